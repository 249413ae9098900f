#!/usr/bin/python3
"""PyTorch peer of `deltabench bench --task retinanet`: the VOC RetinaNet training step.

README
------
Written for deltabench from the spec (../shared/reference/mona_spec.md, docs/dense_spec.md and the headers of
models/fpn.h, models/det/*.h, which describe mmdet 2.11's modules); no code of mmdet or of the authors is copied.
The backbone is torch_peer.py's Swin (the authors' Swin with the ten tuning methods), here with out_indices
(1, 2, 3) and frozen_stages 1 as the VOC config; on it:

  FPN         mmdet 2.11 FPN: 1x1 laterals, top-down nearest-resize-and-add, 3x3 output convs, 5 outputs, the
              extra levels by stride-2 3x3 convs, the first on the last backbone input ('on_input'), no ReLU
              before the extra convs; every conv with bias, xavier-uniform weights, zero biases
  RetinaHead  4 stacked 3x3 conv + ReLU per branch (shared over levels), retina_cls (A*C), retina_reg (A*4);
              N(0, 0.01) weights, retina_cls bias -log(0.99 / 0.01)
  anchors     octave base scale 4, 3 scales per octave, ratios 0.5 1 2, strides 8..128, centre offset 0,
              valid flags from the pad shape; every valid anchor takes part (allowed_border -1)
  targets     MaxIoUAssigner(pos 0.5, neg 0.4, min_pos_iou 0, gt_max_assign_all, low-quality matches),
              PseudoSampler, DeltaXYWH (means 0, stds 1)
  loss        per level: sigmoid focal loss (gamma 2, alpha 0.25) weighted by the label weights, L1 on the
              deltas of the positives, both summed and divided by avg_factor = sum over images max(#pos, 1)

The step (forward, targets, loss, backward, AdamW lr 1e-4 wd 0.05 over the trainable parameters) is timed as
deltabench times its own; each method runs in its own child process so that its peak RSS is its own.  The
batch comes from deltabench (--batch-json: the collated images as raw float32 and the boxes), so both engines
train on the same images and ground truths; without it a batch is drawn from --seed here.

  /usr/bin/python3 experiments/bench/torch_peer_retinanet.py --backbone swin-t --size 512 --batch 2 \
      --threads 2 --steps 5 --warmup 3 --methods full,fixed,mona [--neck-channels 256 --head-channels 256] \
      [--classes 20] [--batch-json FILE] [--json]

`trainable_params` counts every trainable parameter of the detector (backbone, neck, head), the number
deltabench compares with its own.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import box_iou, sigmoid_focal_loss

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_peer import Swin, dense_arg_parser, dense_main, dense_step_result, parse_backbone, timed_train_steps  # noqa: E402


class ConvModule(nn.Module):
    """mmcv ConvModule without norm and activation: the conv is registered as .conv (mmdet's names)."""

    def __init__(self, cin, cout, k, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)

    def forward(self, x):
        return self.conv(x)


class FPN(nn.Module):
    def __init__(self, in_channels, out_channels, num_outs):
        super().__init__()
        n = len(in_channels)
        self.n_in, self.num_outs = n, num_outs
        self.lateral_convs = nn.ModuleList([ConvModule(c, out_channels, 1) for c in in_channels])
        convs = [ConvModule(out_channels, out_channels, 3) for _ in range(n)]
        for i in range(num_outs - n):  # extra levels: the first on the last input ('on_input')
            convs.append(ConvModule(in_channels[-1] if i == 0 else out_channels, out_channels, 3, stride=2))
        self.fpn_convs = nn.ModuleList(convs)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, xs):
        lat = [conv(x) for conv, x in zip(self.lateral_convs, xs)]          # (B, C, H_i, W_i)
        for i in range(self.n_in - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:], mode='nearest')
        outs = [self.fpn_convs[i](lat[i]) for i in range(self.n_in)]
        for i in range(self.n_in, self.num_outs):                            # relu_before_extra_convs False
            outs.append(self.fpn_convs[i](xs[-1] if i == self.n_in else outs[-1]))
        return outs


def anchor_bases(strides=(8, 16, 32, 64, 128), ratios=(0.5, 1.0, 2.0), octave_base=4.0, per_octave=3):
    """Base anchors per level (A, 4), scale-major within a ratio as mmdet's AnchorGenerator, centre 0."""
    scales = torch.tensor([octave_base * 2 ** (k / per_octave) for k in range(per_octave)])
    r = torch.tensor(ratios)
    h_ratios = torch.sqrt(r)
    w_ratios = 1 / h_ratios
    out = []
    for s in strides:
        ws = (s * w_ratios[:, None] * scales[None, :]).reshape(-1)
        hs = (s * h_ratios[:, None] * scales[None, :]).reshape(-1)
        out.append(torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=-1))
    return out


class RetinaHead(nn.Module):
    def __init__(self, num_classes, in_channels, feat_channels, stacked_convs=4, strides=(8, 16, 32, 64, 128)):
        super().__init__()
        self.C = num_classes
        self.strides = strides
        self.bases = anchor_bases(strides)
        self.A = self.bases[0].shape[0]
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for i in range(stacked_convs):
            cin = in_channels if i == 0 else feat_channels
            self.cls_convs.append(ConvModule(cin, feat_channels, 3))
            self.reg_convs.append(ConvModule(cin, feat_channels, 3))
        self.retina_cls = nn.Conv2d(feat_channels, self.A * num_classes, 3, padding=1)
        self.retina_reg = nn.Conv2d(feat_channels, self.A * 4, 3, padding=1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        nn.init.constant_(self.retina_cls.bias, -math.log((1 - 0.01) / 0.01))

    def forward(self, feats):
        cls, reg = [], []
        for x in feats:
            c = r = x
            for conv in self.cls_convs:
                c = F.relu(conv(c))
            for conv in self.reg_convs:
                r = F.relu(conv(r))
            cls.append(self.retina_cls(c))                                   # (B, A*C, H, W)
            reg.append(self.retina_reg(r))                                   # (B, A*4, H, W)
        return cls, reg

    def anchors(self, sizes):
        """All anchors (sum H_l W_l A, 4) in (level, y, x, a) order."""
        out = []
        for base, s, (H, W) in zip(self.bases, self.strides, sizes):
            sx = torch.arange(W, dtype=torch.float32) * s
            sy = torch.arange(H, dtype=torch.float32) * s
            yy, xx = torch.meshgrid(sy, sx, indexing='ij')
            shifts = torch.stack([xx.reshape(-1), yy.reshape(-1), xx.reshape(-1), yy.reshape(-1)], dim=-1)
            out.append((base[None, :, :] + shifts[:, None, :]).reshape(-1, 4))
        return torch.cat(out)

    def valid(self, sizes, pad_h, pad_w):
        out = []
        for s, (H, W) in zip(self.strides, sizes):
            vh, vw = min(int(math.ceil(pad_h / s)), H), min(int(math.ceil(pad_w / s)), W)
            v = torch.zeros(H, W, dtype=torch.bool)
            v[:vh, :vw] = True
            out.append(v.reshape(-1, 1).expand(H * W, self.A).reshape(-1))
        return torch.cat(out)

    def targets(self, anchors, valid, boxes, labels):
        """One image: labels (n,), label weights (n,), delta targets (n, 4), bbox weights (n, 4), #pos."""
        n = anchors.shape[0]
        lab = torch.full((n,), self.C, dtype=torch.long)
        lw = torch.zeros(n)
        bt = torch.zeros(n, 4)
        bw = torch.zeros(n, 4)
        idx = torch.nonzero(valid).squeeze(1)
        a = anchors[idx]
        assigned = torch.full((a.shape[0],), -1, dtype=torch.long)
        if boxes.shape[0] == 0:
            assigned[:] = 0
        else:
            ov = box_iou(boxes, a)                                           # (m, n_valid)
            max_ov, arg = ov.max(dim=0)
            assigned[(max_ov >= 0) & (max_ov < 0.4)] = 0
            pos = max_ov >= 0.5
            assigned[pos] = arg[pos] + 1
            gt_max, _ = ov.max(dim=1)
            for i in range(boxes.shape[0]):                                  # low-quality matches, min_pos_iou 0
                if gt_max[i] >= 0.0:
                    assigned[ov[i] == gt_max[i]] = i + 1
        p = assigned > 0
        pi = idx[p]
        g = boxes[assigned[p] - 1] if p.any() else boxes.new_zeros(0, 4)
        pa = anchors[pi]
        px, py = (pa[:, 0] + pa[:, 2]) * 0.5, (pa[:, 1] + pa[:, 3]) * 0.5
        pw, ph = pa[:, 2] - pa[:, 0], pa[:, 3] - pa[:, 1]
        gx, gy = (g[:, 0] + g[:, 2]) * 0.5, (g[:, 1] + g[:, 3]) * 0.5
        gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
        bt[pi] = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=-1)
        bw[pi] = 1.0
        lab[pi] = labels[assigned[p] - 1]
        lw[pi] = 1.0
        lw[idx[assigned == 0]] = 1.0
        return lab, lw, bt, bw, int(p.sum())

    def loss(self, cls, reg, metas, gts):
        B = cls[0].shape[0]
        sizes = [tuple(c.shape[2:]) for c in cls]
        anchors = self.anchors(sizes)
        per = [self.targets(anchors, self.valid(sizes, *m['pad_shape']), g['boxes'], g['labels'])
               for m, g in zip(metas, gts)]
        avg = float(sum(max(t[4], 1) for t in per))
        lab = torch.stack([t[0] for t in per])                               # (B, total)
        lw = torch.stack([t[1] for t in per])
        bt = torch.stack([t[2] for t in per])                                # (B, total, 4)
        bw = torch.stack([t[3] for t in per])
        loss_cls = loss_bbox = 0.0
        off = 0
        for c, r in zip(cls, reg):
            H, W = c.shape[2:]
            n = H * W * self.A
            pc = c.permute(0, 2, 3, 1).reshape(-1, self.C)                   # rows (b, y, x, a)
            pr = r.permute(0, 2, 3, 1).reshape(-1, 4)
            l = lab[:, off:off + n].reshape(-1)
            onehot = F.one_hot(l, self.C + 1)[:, :self.C].to(pc.dtype)       # background: all zeros
            fl = sigmoid_focal_loss(pc, onehot, alpha=0.25, gamma=2.0, reduction='none')
            loss_cls = loss_cls + (fl * lw[:, off:off + n].reshape(-1, 1)).sum() / avg
            w = bw[:, off:off + n].reshape(-1, 4)
            loss_bbox = loss_bbox + ((pr - bt[:, off:off + n].reshape(-1, 4)).abs() * w).sum() / avg
            off += n
        return loss_cls, loss_bbox


class RetinaNet(nn.Module):
    def __init__(self, method, backbone, classes, neck_channels, head_channels, drop_path_rate, dropout):
        super().__init__()
        e, d, h, w = parse_backbone(backbone)
        self.backbone = Swin(method, embed_dim=e, depths=d, num_heads=h, window=w, out_indices=(1, 2, 3),
                             drop_path_rate=drop_path_rate, dropout=dropout)
        for p in self.backbone.patch_embed.parameters():                     # frozen_stages 1: patch_embed
            p.requires_grad_(False)
        self.neck = FPN([e * 2, e * 4, e * 8], neck_channels, 5)
        self.bbox_head = RetinaHead(classes, neck_channels, head_channels)

    def forward(self, img):
        return self.bbox_head(self.neck(list(self.backbone(img))))


def load_batch(args):
    if args.batch_json:
        with open(args.batch_json) as f:
            j = json.load(f)
        shape = j['shape']
        path = os.path.join(os.path.dirname(os.path.abspath(args.batch_json)), j['images'])
        n = shape[0] * shape[1] * shape[2] * shape[3]
        img = torch.from_file(path, shared=False, size=n, dtype=torch.float32).reshape(shape)
        metas = j['metas']
        gts = [dict(boxes=torch.tensor(g['boxes'], dtype=torch.float32).reshape(-1, 4),
                    labels=torch.tensor(g['labels'], dtype=torch.long)) for g in j['gts']]
        if shape[0] != args.batch:
            raise SystemExit('torch_peer_retinanet: %s holds %d images, --batch %d' % (args.batch_json, shape[0], args.batch))
        return img, metas, gts
    g = torch.Generator().manual_seed(args.seed + 2)
    S = args.size
    P = (S + 31) // 32 * 32
    img = torch.zeros(args.batch, 3, P, P)
    img[:, :, :S, :S] = torch.randn(args.batch, 3, S, S, generator=g)
    metas, gts = [], []
    for _ in range(args.batch):
        wh = S / 8 + torch.rand(3, 2, generator=g) * (S * 3 / 8)
        xy = torch.rand(3, 2, generator=g) * (S - wh)
        gts.append(dict(boxes=torch.cat([xy, xy + wh], dim=1),
                        labels=torch.randint(0, args.classes, (3,), generator=g)))
        metas.append(dict(img_shape=[S, S], pad_shape=[P, P]))
    return img, metas, gts


def bench_one(args, method):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = RetinaNet(method, args.backbone, args.classes, args.neck_channels, args.head_channels,
                      args.drop_path_rate, args.dropout)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.05)
    img, metas, gts = load_batch(args)

    def loss_fn():
        cls, reg = model(img)
        lc, lb = model.bbox_head.loss(cls, reg, metas, gts)
        return lc + lb, dict(loss_cls=lc, loss_bbox=lb)

    times, loss, parts = timed_train_steps(opt, loss_fn, args.warmup, args.steps)
    return dense_step_result(method, times, args.batch, trainable, model.backbone, loss, parts)


def main(argv=None):
    ap = dense_arg_parser('PyTorch peer of deltabench bench --task retinanet', 512, 2, 20,
                          'detection classes (default %d, VOC)')
    ap.add_argument('--neck-channels', type=int, default=256, help='FPN channels (default 256)')
    ap.add_argument('--head-channels', type=int, default=256, help='head tower channels (default 256)')
    ap.add_argument('--batch-json', help='the batch deltabench wrote (images and ground truths)')
    args = ap.parse_args(argv)
    if args.steps < 1 or args.batch < 1 or args.size < 32:
        ap.error('--steps and --batch must be positive, --size at least 32')
    return dense_main(args, __file__, 'torch_peer_retinanet', 'retinanet', ('neck_channels', 'head_channels'), bench_one)


if __name__ == '__main__':
    sys.exit(main())
