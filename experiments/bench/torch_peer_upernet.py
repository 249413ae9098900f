#!/usr/bin/python3
"""PyTorch peer of `deltabench bench --task upernet`: the ADE20K UperNet training step.

README
------
Written for deltabench from the spec (../shared/reference/mona_spec.md 6.3, docs/dense_spec.md 9 and the headers
models/seg/upernet.h, models/seg/uper_head.h, which describe mmseg 0.11's modules); no code of mmseg or of the
authors is copied.  The backbone and the ten tuning methods are torch_peer.py's Swin (the authors' Swin), here
with out_indices (0, 1, 2, 3) and frozen_stages -1 as the ADE20K config; on it:

  ConvModule  mmcv 1.3 conv (bias False, a norm follows) + BatchNorm2d (eps 1e-5, momentum 0.1; SyncBN on one
              process is BN over the batch) + ReLU; kaiming-normal weights (fan_out, relu), BN weight 1 bias 0
  UPerHead    channels 512: PPM on the last input (per pool scale 1, 2, 3, 6: adaptive average pooling, a 1x1
              ConvModule, bilinear resize back with align_corners False), concatenated with that input,
              `bottleneck` 3x3; 1x1 `lateral_convs` on the other inputs; top-down bilinear resize-and-add;
              3x3 `fpn_convs` on every level but the last; all resized to level 0 and concatenated;
              `fpn_bottleneck` 3x3; Dropout2d 0.1 and `conv_seg` 1x1 (bias; N(0, 0.01), bias 0)
  FCNHead     the auxiliary head on input 2 (the third stage): one 3x3 ConvModule of 256 channels,
              concat_input False, Dropout2d 0.1, conv_seg
  loss        per head: the logits resized bilinear (align_corners False) to the label size, cross-entropy
              with ignore_index 255 averaged over all pixels (ignored ones count 0, as mmseg 0.11's
              weight_reduce_loss mean), the auxiliary loss times 0.4; the total is their sum

The step (forward, loss, backward, AdamW lr 1e-4 wd 0.05 over the trainable parameters) is timed as deltabench
times its own; each method runs in its own child process so that its peak RSS is its own.  The batch comes
from deltabench (--batch-json: the images as raw float32 and the labels as raw uint8), so both engines train
on the same pixels and labels; without it a batch is drawn from --seed here.

  /usr/bin/python3 experiments/bench/torch_peer_upernet.py --backbone swin-t --size 512 --batch 2 \
      --threads 2 --steps 5 --warmup 3 --methods full,fixed,mona [--head-channels 512 --aux-channels 256] \
      [--classes 150] [--batch-json FILE] [--json]

`trainable_params` counts every trainable parameter of the segmentor (backbone, both heads; the BN running
statistics are buffers), the number deltabench compares with its own.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_peer import Swin, dense_arg_parser, dense_main, dense_step_result, parse_backbone, timed_train_steps  # noqa: E402

IGNORE = 255


def resize(x, size):
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


class ConvModule(nn.Module):
    """mmcv ConvModule(conv, BN, ReLU) with mmseg's names: .conv, .bn."""

    def __init__(self, cin, cout, k, padding=0, dilation=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        nn.init.kaiming_normal_(self.conv.weight, a=0, mode='fan_out', nonlinearity='relu')
        nn.init.ones_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class DecodeHead(nn.Module):
    """BaseDecodeHead's cls_seg: Dropout2d, then conv_seg (1x1 with bias, N(0, 0.01), bias 0)."""

    def __init__(self, channels, num_classes, dropout_ratio):
        super().__init__()
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else None
        nn.init.normal_(self.conv_seg.weight, std=0.01)
        nn.init.zeros_(self.conv_seg.bias)

    def cls_seg(self, x):
        if self.dropout is not None:
            x = self.dropout(x)
        return self.conv_seg(x)


class UPerHead(DecodeHead):
    def __init__(self, in_channels, channels, num_classes, pool_scales=(1, 2, 3, 6), dropout_ratio=0.1):
        super().__init__(channels, num_classes, dropout_ratio)
        top = in_channels[-1]
        self.psp_modules = nn.ModuleList([nn.Sequential(nn.AdaptiveAvgPool2d(s), ConvModule(top, channels, 1))
                                          for s in pool_scales])
        self.bottleneck = ConvModule(top + len(pool_scales) * channels, channels, 3, padding=1)
        self.lateral_convs = nn.ModuleList([ConvModule(c, channels, 1) for c in in_channels[:-1]])
        self.fpn_convs = nn.ModuleList([ConvModule(channels, channels, 3, padding=1) for _ in in_channels[:-1]])
        self.fpn_bottleneck = ConvModule(len(in_channels) * channels, channels, 3, padding=1)

    def psp_forward(self, x):
        outs = [x] + [resize(m(x), x.shape[2:]) for m in self.psp_modules]
        return self.bottleneck(torch.cat(outs, dim=1))

    def forward(self, xs):
        lat = [conv(xs[i]) for i, conv in enumerate(self.lateral_convs)] + [self.psp_forward(xs[-1])]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + resize(lat[i], lat[i - 1].shape[2:])
        outs = [self.fpn_convs[i](lat[i]) for i in range(len(lat) - 1)] + [lat[-1]]
        outs = [outs[0]] + [resize(o, outs[0].shape[2:]) for o in outs[1:]]
        return self.cls_seg(self.fpn_bottleneck(torch.cat(outs, dim=1)))


class FCNHead(DecodeHead):
    def __init__(self, in_channels, channels, num_classes, in_index=2, num_convs=1, kernel_size=3, dropout_ratio=0.1):
        super().__init__(channels, num_classes, dropout_ratio)
        self.in_index = in_index
        self.convs = nn.Sequential(*[ConvModule(in_channels if i == 0 else channels, channels, kernel_size,
                                                padding=kernel_size // 2) for i in range(num_convs)])

    def forward(self, xs):
        return self.cls_seg(self.convs(xs[self.in_index]))


def seg_loss(logit, label, weight=1.0):
    """BaseDecodeHead.losses: bilinear to the label size, CE (ignore 255) mean over all pixels, times weight."""
    logit = resize(logit, label.shape[1:])
    loss = F.cross_entropy(logit, label, reduction='none', ignore_index=IGNORE)
    return weight * loss.mean()


class UperNet(nn.Module):
    def __init__(self, method, backbone, classes, head_channels, aux_channels, drop_path_rate, dropout):
        super().__init__()
        e, d, h, w = parse_backbone(backbone)
        self.backbone = Swin(method, embed_dim=e, depths=d, num_heads=h, window=w, out_indices=(0, 1, 2, 3),
                             drop_path_rate=drop_path_rate, dropout=dropout)  # frozen_stages -1: nothing more
        dims = [e, e * 2, e * 4, e * 8]
        self.decode_head = UPerHead(dims, head_channels, classes)
        self.auxiliary_head = FCNHead(dims[2], aux_channels, classes, in_index=2)

    def forward_train(self, img, label, aux_weight=0.4):
        xs = list(self.backbone(img))
        ld = seg_loss(self.decode_head(xs), label)
        la = seg_loss(self.auxiliary_head(xs), label, aux_weight)
        return ld, la


def load_batch(args):
    if args.batch_json:
        with open(args.batch_json) as f:
            j = json.load(f)
        shape = j['shape']
        folder = os.path.dirname(os.path.abspath(args.batch_json))
        n = shape[0] * shape[1] * shape[2] * shape[3]
        img = torch.from_file(os.path.join(folder, j['images']), shared=False, size=n, dtype=torch.float32).reshape(shape)
        npx = shape[0] * shape[2] * shape[3]
        label = torch.from_file(os.path.join(folder, j['labels']), shared=False, size=npx, dtype=torch.uint8)
        label = label.reshape(shape[0], shape[2], shape[3]).long()
        if shape[0] != args.batch or shape[2] != args.size or shape[3] != args.size:
            raise SystemExit('torch_peer_upernet: %s holds %s, --batch %d --size %d' % (args.batch_json, shape, args.batch,
                                                                                       args.size))
        return img, label
    g = torch.Generator().manual_seed(args.seed + 2)
    S, nb = args.size, (args.size + 7) // 8
    img = torch.randn(args.batch, 3, S, S, generator=g)
    blk = torch.randint(0, args.classes, (args.batch, nb, nb), generator=g)
    blk[torch.randint(0, 16, (args.batch, nb, nb), generator=g) == 0] = IGNORE
    label = blk.repeat_interleave(8, 1).repeat_interleave(8, 2)[:, :S, :S].contiguous()
    return img, label


def bench_one(args, method):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = UperNet(method, args.backbone, args.classes, args.head_channels, args.aux_channels, args.drop_path_rate,
                    args.dropout)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.05)
    img, label = load_batch(args)

    def loss_fn():
        ld, la = model.forward_train(img, label)
        return ld + la, dict(loss_decode=ld, loss_aux=la)

    times, loss, parts = timed_train_steps(opt, loss_fn, args.warmup, args.steps)
    return dense_step_result(method, times, args.batch, trainable, model.backbone, loss, parts)


def main(argv=None):
    ap = dense_arg_parser('PyTorch peer of deltabench bench --task upernet', 512, 2, 150,
                          'segmentation classes (default %d, ADE20K)',
                          batch_help='batch size (default %d; BatchNorm needs 2 or more)')
    ap.add_argument('--head-channels', type=int, default=512, help='UPerHead channels (default 512)')
    ap.add_argument('--aux-channels', type=int, default=256, help='FCN auxiliary head channels (default 256)')
    ap.add_argument('--batch-json', help='the batch deltabench wrote (images and labels)')
    args = ap.parse_args(argv)
    if args.steps < 1 or args.batch < 2 or args.size < 32 or not 1 <= args.classes <= 255:
        ap.error('--steps must be positive, --batch at least 2, --size at least 32, --classes 1..255')
    return dense_main(args, __file__, 'torch_peer_upernet', 'upernet', ('head_channels', 'aux_channels'), bench_one)


if __name__ == '__main__':
    sys.exit(main())
