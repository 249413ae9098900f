#!/usr/bin/python3
"""PyTorch peer of `deltabench bench --task cascade`: the COCO Cascade R-CNN training step.

README
------
Written for deltabench from docs/dense_spec.md (sections 2-4 and 10-12) and the headers models/det/cascade_rcnn.h,
rpn_head.h, bbox_head.h, roi_extractor.h, which describe mmdet 2.11's modules as the authors' COCO config builds
them; no code of mmdet or of the authors is copied.  The backbone is torch_peer.py's Swin (the authors' Swin with
the ten tuning methods) with out_indices (0, 1, 2, 3) and nothing frozen beyond the method; on it:

  FPN         [C, 2C, 4C, 8C] -> neck channels, 1x1 laterals, top-down nearest-resize-and-add, 3x3 output convs,
              5 outputs, the fifth by max_pool2d(kernel 1, stride 2) of the fourth (add_extra_convs False);
              xavier-uniform weights, zero biases (torch_peer_retinanet.py's ConvModule names)
  RPN         rpn_conv 3x3 + ReLU, rpn_cls 1x1 (3 anchors), rpn_reg 1x1 (12), N(0, 0.01); anchors scale 8,
              ratios 0.5 1 2, strides 4..64, centre 0; inside flags for the pad shape and allowed_border 0;
              MaxIoUAssigner(0.7, 0.3, min_pos_iou 0.3, every equal best overlap taken), RandomSampler(256, 0.5);
              BCE with logits and SmoothL1 (beta 1/9) on the deltas (stds 1), both / (sum over images of
              max(#pos, 1) + max(#neg, 1)); proposals (no gradient): per level the 2000 best sigmoid scores,
              decoded and clipped to img_shape, torchvision batched_nms(0.7) with the level as id, 2000 kept
  stages      three, each: MaxIoUAssigner(pos = neg = min_pos 0.5 / 0.6 / 0.7, no low-quality matches) on the
              proposals, the gts prepended as proposals (assigned to themselves), RandomSampler(512, 0.25),
              positives then negatives per image in index order; SingleRoIExtractor: level
              floor(log2(sqrt(area) / 56 + 1e-6)) clamped to 0..3, torchvision roi_align(7, 1 / stride,
              sampling_ratio 0, aligned True) on the first four FPN outputs; ConvFCBBoxHead 4conv1fc: 4 x (3x3
              conv without bias, BatchNorm2d over the rois, ReLU), flatten, fc (1024) + ReLU, fc_cls (81),
              fc_reg (4 x 80, class-wise); kaiming-normal fan_out convs, BN 1 / 0, xavier fc, fc_cls N(0, 0.01),
              fc_reg N(0, 0.001); CE / max(#weighted, 1); GIoU (eps 1e-6) x 10 on the positives' boxes decoded
              (stds per stage, not clipped) from their gt class's deltas, / #rois; stage weights 1, 0.5, 0.25;
              between stages (no gradient) every roi's label (background -> argmax of the 80 class logits), its
              deltas decoded and clipped to img_shape, the gts added as proposals dropped
  masks       --with-mask (off by default: the C model has no mask branch yet): per stage on the sampled
              positives, RoIAlign 14 on the same levels, FCNMaskHead (4 x (3x3 conv 256 + ReLU), ConvTranspose
              2x2 stride 2 + ReLU, 1x1 conv to 80; kaiming fan_out), targets 28x28 by roi_align(1.0, sampling 0,
              aligned) of each positive's gt bitmap mask, >= 0.5; BCE with logits of the gt class's channel,
              mean over the positives' 28x28 pixels, times the stage weight.  The gt masks come from the batch
              JSON ("masks": a uint8 file per image, (n_boxes, pad_h, pad_w)) or, without them, the ellipse
              inscribed in each box

The samplers draw from a torch.Generator seeded alike every step (deltabench restarts its samplers' stream
every step too), so every step samples alike from its proposals.  The step (forward, targets, losses,
backward, AdamW lr 1e-4 wd 0.05 over the trainable parameters) is timed as deltabench times its own; each
method runs in its own child process so that its peak RSS is its own.  The batch comes from deltabench
(--batch-json, as the RetinaNet peer's), so both engines train on the same images and ground truths; without it
a batch of --width x --size images is drawn from --seed here.

  /usr/bin/python3 experiments/bench/torch_peer_cascade.py --backbone swin-t --width 800 --size 512 --batch 1 \\
      --threads 2 --steps 5 --warmup 3 --methods full,mona [--neck-channels 256 --head-channels 256 \\
      --fc-channels 1024] [--classes 80] [--with-mask] [--batch-json FILE] [--json]

`trainable_params` counts every trainable parameter of the detector (backbone, neck, RPN, box heads and, with
--with-mask, the mask heads; BN running statistics are buffers), the number deltabench compares with its own.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import batched_nms, box_iou, roi_align

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_peer import Swin, dense_arg_parser, dense_main, dense_step_result, parse_backbone, timed_train_steps  # noqa: E402
from torch_peer_retinanet import ConvModule, anchor_bases  # noqa: E402
from torch_peer_retinanet import load_batch as load_retinanet_batch  # noqa: E402

STAGES = 3
STAGE_WEIGHTS = (1.0, 0.5, 0.25)
STAGE_IOU = (0.5, 0.6, 0.7)
STAGE_STDS = ((0.1, 0.1, 0.2, 0.2), (0.05, 0.05, 0.1, 0.1), (0.033, 0.033, 0.067, 0.067))
WH_RATIO_CLIP = abs(math.log(16.0 / 1000))


# --------------------------------------------------------------------------------------------------
# Box arithmetic (DeltaXYWHBBoxCoder, means 0)
# --------------------------------------------------------------------------------------------------

def delta_encode(p, g, stds):
    px, py = (p[:, 0] + p[:, 2]) * 0.5, (p[:, 1] + p[:, 3]) * 0.5
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    gx, gy = (g[:, 0] + g[:, 2]) * 0.5, (g[:, 1] + g[:, 3]) * 0.5
    gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    d = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=-1)
    return d / d.new_tensor(stds)


def delta_decode(p, d, stds, max_shape=None):
    """p (n, 4) rois, d (n, 4) deltas -> boxes (n, 4); max_shape (h, w): clipped to [0, w] x [0, h]."""
    d = d * d.new_tensor(stds)
    dx, dy = d[:, 0], d[:, 1]
    dw, dh = d[:, 2].clamp(-WH_RATIO_CLIP, WH_RATIO_CLIP), d[:, 3].clamp(-WH_RATIO_CLIP, WH_RATIO_CLIP)
    px, py = (p[:, 0] + p[:, 2]) * 0.5, (p[:, 1] + p[:, 3]) * 0.5
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    gw, gh = pw * dw.exp(), ph * dh.exp()
    gx, gy = px + pw * dx, py + ph * dy
    x1, y1, x2, y2 = gx - gw * 0.5, gy - gh * 0.5, gx + gw * 0.5, gy + gh * 0.5
    if max_shape is not None:
        h, w = max_shape
        x1, x2 = x1.clamp(0, w), x2.clamp(0, w)
        y1, y2 = y1.clamp(0, h), y2.clamp(0, h)
    return torch.stack([x1, y1, x2, y2], dim=-1)


def giou_loss(pred, target, eps=1e-6):
    """1 - GIoU of aligned boxes (mmdet bbox_overlaps mode giou: union and enclosing area at least eps)."""
    a1 = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    a2 = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    lt = torch.max(pred[:, :2], target[:, :2])
    rb = torch.min(pred[:, 2:], target[:, 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    union = (a1 + a2 - overlap).clamp(min=eps)
    ious = overlap / union
    elt = torch.min(pred[:, :2], target[:, :2])
    erb = torch.max(pred[:, 2:], target[:, 2:])
    ewh = (erb - elt).clamp(min=0)
    enclose = (ewh[:, 0] * ewh[:, 1]).clamp(min=eps)
    return 1 - (ious - (enclose - union) / enclose)


def max_iou_assign(boxes, gts, pos_thr, neg_thr, min_pos_iou, low_quality):
    """MaxIoUAssigner: gt_inds (n,) -1 ignored, 0 negative, k > 0 the k-th gt (neg: max IoU in [0, neg_thr))."""
    n = boxes.shape[0]
    if gts.shape[0] == 0:
        return torch.zeros(n, dtype=torch.long)
    ov = box_iou(gts, boxes)                                                 # (m, n)
    max_ov, arg = ov.max(dim=0)
    inds = torch.full((n,), -1, dtype=torch.long)
    inds[(max_ov >= 0) & (max_ov < neg_thr)] = 0
    pos = max_ov >= pos_thr
    inds[pos] = arg[pos] + 1
    if low_quality:
        gt_max, _ = ov.max(dim=1)
        for i in range(gts.shape[0]):                                        # gt_max_assign_all
            if gt_max[i] >= min_pos_iou:
                inds[ov[i] == gt_max[i]] = i + 1
    return inds


def random_sample(gt_inds, num, pos_fraction, gen):
    """RandomSampler (neg_pos_ub -1): sorted positive and negative indices."""
    def choose(cand, k):
        if cand.numel() <= k:
            return cand
        return cand[torch.randperm(cand.numel(), generator=gen)[:k]].sort().values
    pos = choose(torch.nonzero(gt_inds > 0).squeeze(1), int(num * pos_fraction))
    neg = choose(torch.nonzero(gt_inds == 0).squeeze(1), num - pos.numel())
    return pos, neg


# --------------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------------

class FPNPool(nn.Module):
    """mmdet FPN with add_extra_convs False: the levels past the inputs by max_pool2d(1, stride 2)."""

    def __init__(self, in_channels, out_channels, num_outs):
        super().__init__()
        self.num_outs = num_outs
        self.lateral_convs = nn.ModuleList([ConvModule(c, out_channels, 1) for c in in_channels])
        self.fpn_convs = nn.ModuleList([ConvModule(out_channels, out_channels, 3) for _ in in_channels])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, xs):
        lat = [conv(x) for conv, x in zip(self.lateral_convs, xs)]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:], mode='nearest')
        outs = [conv(x) for conv, x in zip(self.fpn_convs, lat)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return outs


class RPNHead(nn.Module):
    def __init__(self, in_channels, feat_channels, strides=(4, 8, 16, 32, 64)):
        super().__init__()
        self.strides = strides
        self.bases = anchor_bases(strides, octave_base=8.0, per_octave=1)     # scales [8], ratios 0.5 1 2
        self.A = self.bases[0].shape[0]
        self.rpn_conv = nn.Conv2d(in_channels, feat_channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(feat_channels, self.A, 1)
        self.rpn_reg = nn.Conv2d(feat_channels, self.A * 4, 1)
        for m in (self.rpn_conv, self.rpn_cls, self.rpn_reg):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)

    def forward(self, feats):
        cls, reg = [], []
        for x in feats:
            y = F.relu(self.rpn_conv(x))
            cls.append(self.rpn_cls(y))                                      # (B, A, H, W)
            reg.append(self.rpn_reg(y))                                      # (B, 4A, H, W)
        return cls, reg

    def level_anchors(self, sizes):
        out = []
        for base, s, (H, W) in zip(self.bases, self.strides, sizes):
            sx = torch.arange(W, dtype=torch.float32) * s
            sy = torch.arange(H, dtype=torch.float32) * s
            yy, xx = torch.meshgrid(sy, sx, indexing='ij')
            shifts = torch.stack([xx.reshape(-1), yy.reshape(-1), xx.reshape(-1), yy.reshape(-1)], dim=-1)
            out.append((base[None, :, :] + shifts[:, None, :]).reshape(-1, 4))  # (y, x, a)
        return out

    def inside(self, anchors, sizes, meta):
        """valid for the pad shape and inside img_shape (allowed_border 0)"""
        pad_h, pad_w = meta['pad_shape']
        img_h, img_w = meta['img_shape']
        flags = []
        for s, (H, W) in zip(self.strides, sizes):
            vh, vw = min(int(math.ceil(pad_h / s)), H), min(int(math.ceil(pad_w / s)), W)
            v = torch.zeros(H, W, dtype=torch.bool)
            v[:vh, :vw] = True
            flags.append(v.reshape(-1, 1).expand(H * W, self.A).reshape(-1))
        a = anchors
        return torch.cat(flags) & (a[:, 0] >= 0) & (a[:, 1] >= 0) & (a[:, 2] < img_w) & (a[:, 3] < img_h)

    def loss(self, cls, reg, metas, gts, gen):
        sizes = [tuple(c.shape[2:]) for c in cls]
        anchors = torch.cat(self.level_anchors(sizes))
        n = anchors.shape[0]
        pc = torch.cat([c.permute(0, 2, 3, 1).reshape(c.shape[0], -1) for c in cls], dim=1)          # (B, n)
        pr = torch.cat([r.permute(0, 2, 3, 1).reshape(r.shape[0], -1, 4) for r in reg], dim=1)       # (B, n, 4)
        target = torch.zeros(pc.shape)
        lw = torch.zeros(pc.shape)
        bt = torch.zeros(pr.shape)
        bw = torch.zeros(pr.shape)
        avg = 0.0
        for b, (m, g) in enumerate(zip(metas, gts)):
            idx = torch.nonzero(self.inside(anchors, sizes, m)).squeeze(1)
            if idx.numel() == 0:
                raise SystemExit('torch_peer_cascade: image %d has no anchor inside' % b)
            gi = max_iou_assign(anchors[idx], g['boxes'], 0.7, 0.3, 0.3, True)
            pos, neg = random_sample(gi, 256, 0.5, gen)
            pi, ni = idx[pos], idx[neg]
            target[b, pi] = 1.0                                              # label 0 of 1 class: one-hot 1
            lw[b, pi] = 1.0
            lw[b, ni] = 1.0
            bt[b, pi] = delta_encode(anchors[pi], g['boxes'][gi[pos] - 1], (1.0, 1.0, 1.0, 1.0))
            bw[b, pi] = 1.0
            avg += max(pos.numel(), 1) + max(neg.numel(), 1)
        loss_cls = (F.binary_cross_entropy_with_logits(pc, target, reduction='none') * lw).sum() / avg
        beta = 1.0 / 9.0
        d = (pr - bt).abs()
        sl1 = torch.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
        loss_bbox = (sl1 * bw).sum() / avg
        return loss_cls, loss_bbox

    @torch.no_grad()
    def proposals(self, cls, reg, metas, nms_pre=2000, max_per_img=2000, iou=0.7):
        sizes = [tuple(c.shape[2:]) for c in cls]
        anchors = self.level_anchors(sizes)
        out = []
        for b, m in enumerate(metas):
            boxes, scores, ids = [], [], []
            for l, (c, r, a) in enumerate(zip(cls, reg, anchors)):
                s = c[b].permute(1, 2, 0).reshape(-1).sigmoid()
                d = r[b].permute(1, 2, 0).reshape(-1, 4)
                if s.numel() > nms_pre:
                    s, order = s.sort(descending=True)
                    s, order = s[:nms_pre], order[:nms_pre]
                    d, a = d[order], a[order]
                boxes.append(delta_decode(a, d, (1.0, 1.0, 1.0, 1.0), m['img_shape']))
                scores.append(s)
                ids.append(torch.full((s.numel(),), l, dtype=torch.long))
            boxes, scores, ids = torch.cat(boxes), torch.cat(scores), torch.cat(ids)
            keep = batched_nms(boxes, scores, ids, iou)[:max_per_img]
            out.append(boxes[keep])
        return out


def map_levels(rois, n_levels, finest_scale=56.0):
    scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
    return torch.floor(torch.log2(scale / finest_scale + 1e-6)).clamp(min=0, max=n_levels - 1).long()


def roi_extract(feats, rois, out_size, strides=(4, 8, 16, 32)):
    """SingleRoIExtractor: each roi pooled from its level's map (rois (K, 5) in image pixels)."""
    out = feats[0].new_zeros(rois.shape[0], feats[0].shape[1], out_size, out_size)
    lvl = map_levels(rois, len(strides))
    for l, s in enumerate(strides):
        inds = torch.nonzero(lvl == l).squeeze(1)
        if inds.numel():
            out[inds] = roi_align(feats[l], rois[inds], out_size, spatial_scale=1.0 / s, sampling_ratio=0, aligned=True)
    return out


class BNConv(nn.Module):
    """ConvModule(3x3, pad 1, BN, ReLU): conv without bias (.conv), BatchNorm2d (.bn)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        nn.init.kaiming_normal_(self.conv.weight, a=0, mode='fan_out', nonlinearity='relu')
        nn.init.ones_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class ConvFCBBoxHead(nn.Module):
    def __init__(self, in_channels, conv_channels, fc_channels, num_classes, roi_size=7):
        super().__init__()
        self.num_classes = num_classes
        self.shared_convs = nn.ModuleList([BNConv(in_channels if i == 0 else conv_channels, conv_channels)
                                           for i in range(4)])
        self.shared_fcs = nn.ModuleList([nn.Linear(conv_channels * roi_size * roi_size, fc_channels)])
        self.fc_cls = nn.Linear(fc_channels, num_classes + 1)
        self.fc_reg = nn.Linear(fc_channels, 4 * num_classes)
        nn.init.normal_(self.fc_cls.weight, std=0.01)
        nn.init.normal_(self.fc_reg.weight, std=0.001)
        nn.init.xavier_uniform_(self.shared_fcs[0].weight)
        for m in (self.fc_cls, self.fc_reg, self.shared_fcs[0]):
            nn.init.zeros_(m.bias)

    def forward(self, x):
        for conv in self.shared_convs:
            x = conv(x)
        x = F.relu(self.shared_fcs[0](x.flatten(1)))
        return self.fc_cls(x), self.fc_reg(x)


class FCNMaskHead(nn.Module):
    def __init__(self, in_channels, num_classes, channels=256, num_convs=4):
        super().__init__()
        self.convs = nn.ModuleList([ConvModule(in_channels if i == 0 else channels, channels, 3)
                                    for i in range(num_convs)])
        self.upsample = nn.ConvTranspose2d(channels, channels, 2, stride=2)
        self.conv_logits = nn.Conv2d(channels, num_classes, 1)
        for m in [c.conv for c in self.convs] + [self.upsample, self.conv_logits]:
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            nn.init.zeros_(m.bias)

    def forward(self, x):
        for conv in self.convs:
            x = F.relu(conv(x))
        return self.conv_logits(F.relu(self.upsample(x)))                  # (n, 80, 28, 28)


class CascadeRCNN(nn.Module):
    def __init__(self, method, backbone, classes, neck_channels, head_channels, fc_channels, with_mask,
                 drop_path_rate, dropout):
        super().__init__()
        e, d, h, w = parse_backbone(backbone)
        self.backbone = Swin(method, embed_dim=e, depths=d, num_heads=h, window=w, out_indices=(0, 1, 2, 3),
                             drop_path_rate=drop_path_rate, dropout=dropout)
        self.neck = FPNPool([e, e * 2, e * 4, e * 8], neck_channels, 5)
        self.rpn_head = RPNHead(neck_channels, neck_channels)
        self.bbox_head = nn.ModuleList([ConvFCBBoxHead(neck_channels, head_channels, fc_channels, classes)
                                        for _ in range(STAGES)])
        self.with_mask = with_mask
        if with_mask:
            self.mask_head = nn.ModuleList([FCNMaskHead(neck_channels, classes) for _ in range(STAGES)])
        self.num_classes = classes

    def sample(self, props, g, stage, gen):
        """assign, gts prepended, sample: boxes (pos then neg), positives' gt indices, pos_is_gt, #pos"""
        thr = STAGE_IOU[stage]
        gi = max_iou_assign(props, g['boxes'], thr, thr, thr, False)
        m = g['boxes'].shape[0]
        boxes = torch.cat([g['boxes'], props])
        gi = torch.cat([torch.arange(1, m + 1), gi])
        pos, neg = random_sample(gi, 512, 0.25, gen)
        return torch.cat([boxes[pos], boxes[neg]]), gi[pos] - 1, pos < m, pos.numel()

    def loss(self, img, metas, gts, gen):
        feats = self.neck(list(self.backbone(img)))
        cls, reg = self.rpn_head(feats)
        parts = {}
        parts['loss_rpn_cls'], parts['loss_rpn_bbox'] = self.rpn_head.loss(cls, reg, metas, gts, gen)
        props = self.rpn_head.proposals(cls, reg, metas)
        C = self.num_classes
        for i in range(STAGES):
            samples = [self.sample(p.detach(), g, i, gen) for p, g in zip(props, gts)]
            rois = torch.cat([torch.cat([torch.full((s[0].shape[0], 1), float(b)), s[0]], dim=1)
                              for b, s in enumerate(samples)])
            labels = torch.cat([torch.cat([g['labels'][s[1]], torch.full((s[0].shape[0] - s[3],), C, dtype=torch.long)])
                                for s, g in zip(samples, gts)])
            targets = torch.cat([torch.cat([g['boxes'][s[1]], torch.zeros(s[0].shape[0] - s[3], 4)])
                                 for s, g in zip(samples, gts)])
            K = rois.shape[0]
            cs, rs = self.bbox_head[i](roi_extract(feats[:4], rois, 7))     # (K, 81), (K, 320)
            w = STAGE_WEIGHTS[i]
            parts['s%d.loss_cls' % i] = w * F.cross_entropy(cs, labels, reduction='sum') / max(K, 1)
            pos = torch.nonzero(labels < C).squeeze(1)
            if pos.numel():
                d = rs.reshape(K, C, 4)[pos, labels[pos]]
                boxes = delta_decode(rois[pos, 1:], d, STAGE_STDS[i])       # not clipped
                parts['s%d.loss_bbox' % i] = w * 10.0 * giou_loss(boxes, targets[pos]).sum() / K
            else:
                parts['s%d.loss_bbox' % i] = w * rs[pos].sum()
            if self.with_mask:
                parts['s%d.loss_mask' % i] = w * self.mask_loss(i, feats, samples, gts)
            if i < STAGES - 1:                                               # refine_bboxes, no gradient
                with torch.no_grad():
                    lab = torch.where(labels == C, cs[:, :C].argmax(1), labels)
                    d = rs.reshape(K, C, 4)[torch.arange(K), lab]
                    nxt, o = [], 0
                    for b, s in enumerate(samples):
                        nb = s[0].shape[0]
                        dec = delta_decode(rois[o:o + nb, 1:], d[o:o + nb], STAGE_STDS[i], metas[b]['img_shape'])
                        keep = torch.ones(nb, dtype=torch.bool)
                        keep[:s[3]] = ~s[2]
                        nxt.append(dec[keep])
                        o += nb
                    props = nxt
        return sum(parts.values()), parts

    def mask_loss(self, stage, feats, samples, gts):
        rois, tgt, lab = [], [], []
        for b, (s, g) in enumerate(zip(samples, gts)):
            pb = s[0][:s[3]]
            r = torch.cat([torch.full((pb.shape[0], 1), float(b)), pb], dim=1)
            rois.append(r)
            # mask targets: roi_align of the positive's gt bitmap (1.0, sampling 0, aligned), >= 0.5
            m = g['masks'][s[1]].unsqueeze(1)                                # (npos, 1, H, W)
            r1 = torch.cat([torch.arange(pb.shape[0], dtype=torch.float32)[:, None], pb], dim=1)
            tgt.append((roi_align(m, r1, 28, spatial_scale=1.0, sampling_ratio=0, aligned=True).squeeze(1) >= 0.5).float())
            lab.append(g['labels'][s[1]])
        rois, tgt, lab = torch.cat(rois), torch.cat(tgt), torch.cat(lab)
        if rois.shape[0] == 0:
            return feats[0].sum() * 0
        pred = self.mask_head[stage](roi_extract(feats[:4], rois, 14))     # (npos, 80, 28, 28)
        pred = pred[torch.arange(pred.shape[0]), lab]
        return F.binary_cross_entropy_with_logits(pred, tgt, reduction='mean')


# --------------------------------------------------------------------------------------------------
# Batch and step
# --------------------------------------------------------------------------------------------------

def ellipse_masks(boxes, H, W):
    """(n, H, W) float masks: the ellipse inscribed in each box (pixel centres)."""
    ys = torch.arange(H, dtype=torch.float32)[:, None] + 0.5
    xs = torch.arange(W, dtype=torch.float32)[None, :] + 0.5
    out = []
    for x1, y1, x2, y2 in boxes.tolist():
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, max((x2 - x1) / 2, 0.5), max((y2 - y1) / 2, 0.5)
        out.append((((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0).float())
    return torch.stack(out) if out else torch.zeros(0, H, W)


def load_batch(args):
    if args.batch_json:
        img, metas, gts = load_retinanet_batch(args)
        with open(args.batch_json) as f:
            j = json.load(f)
        folder = os.path.dirname(os.path.abspath(args.batch_json))
        for m, g, gj in zip(metas, gts, j['gts']):
            if args.with_mask and 'masks' in gj:
                ph, pw = m['pad_shape']
                n = g['boxes'].shape[0]
                g['masks'] = torch.from_file(os.path.join(folder, gj['masks']), shared=False, size=n * ph * pw,
                                             dtype=torch.uint8).reshape(n, ph, pw).float()
        return finish_masks(args, img, metas, gts)
    gen = torch.Generator().manual_seed(args.seed + 2)
    W, H = args.width, args.size
    PW, PH = (W + 31) // 32 * 32, (H + 31) // 32 * 32
    img = torch.zeros(args.batch, 3, PH, PW)
    img[:, :, :H, :W] = torch.randn(args.batch, 3, H, W, generator=gen)
    metas, gts = [], []
    size = torch.tensor([W, H], dtype=torch.float32)
    for _ in range(args.batch):
        wh = size / 8 + torch.rand(3, 2, generator=gen) * (size * 3 / 8)
        xy = torch.rand(3, 2, generator=gen) * (size - wh)
        gts.append(dict(boxes=torch.cat([xy, xy + wh], dim=1),
                        labels=torch.randint(0, args.classes, (3,), generator=gen)))
        metas.append(dict(img_shape=[H, W], pad_shape=[PH, PW]))
    return finish_masks(args, img, metas, gts)


def finish_masks(args, img, metas, gts):
    if args.with_mask:
        for m, g in zip(metas, gts):
            if 'masks' not in g:
                g['masks'] = ellipse_masks(g['boxes'], *m['pad_shape'])
    return img, metas, gts


def bench_one(args, method):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = CascadeRCNN(method, args.backbone, args.classes, args.neck_channels, args.head_channels, args.fc_channels,
                        args.with_mask, args.drop_path_rate, args.dropout)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.05)
    img, metas, gts = load_batch(args)
    gen = torch.Generator()

    def loss_fn():
        gen.manual_seed(args.seed + 3)                                       # the samplers' stream, alike every step
        return model.loss(img, metas, gts, gen)

    times, loss, parts = timed_train_steps(opt, loss_fn, args.warmup, args.steps)
    return dense_step_result(method, times, args.batch, trainable, model.backbone, loss, parts)


def main(argv=None):
    ap = dense_arg_parser('PyTorch peer of deltabench bench --task cascade', 512, 1, 80,
                          'detection classes (default %d, COCO)')
    ap.add_argument('--width', type=int, default=800, help='image width without --batch-json (default 800; --size is '
                    'the height)')
    ap.add_argument('--neck-channels', type=int, default=256, help='FPN, RPN and RoI feature channels (default 256)')
    ap.add_argument('--head-channels', type=int, default=256, help='box heads\' conv channels (default 256)')
    ap.add_argument('--fc-channels', type=int, default=1024, help='box heads\' fc width (default 1024)')
    ap.add_argument('--with-mask', action='store_true', help='add the FCN mask branch (off: the C model has none yet)')
    ap.add_argument('--batch-json', help='the batch deltabench wrote (images and ground truths)')
    args = ap.parse_args(argv)
    if args.steps < 1 or args.batch < 1 or args.size < 32 or args.width < 32:
        ap.error('--steps and --batch must be positive, --size and --width at least 32')
    return dense_main(args, __file__, 'torch_peer_cascade', 'cascade',
                      ('width', 'neck_channels', 'head_channels', 'fc_channels', 'with_mask'), bench_one)


if __name__ == '__main__':
    sys.exit(main())
