#!/usr/bin/python3
"""PyTorch peer of `deltabench bench`: the detection-style Swin backbone and the ten tuning methods.

README
------
Written from ../shared/reference/mona_spec.md (sections 2-5) for deltabench; no code of the authors is
copied.  It serves as the PyTorch side of the benchmark (issue 2, item 9) and proves, against the goldens
computed by the authors' own code, that it computes the same thing.  Run it with Debian's interpreter,
which has python3-torch (1.13) and python3-h5py:

  # timing: one AdamW training step per method (GAP + Linear(C_last, 100) head on out_indices (3,))
  /usr/bin/python3 experiments/bench/torch_peer.py --backbone swin-t --size 224 --batch 8 \
      --threads 2 --steps 5 --methods all [--warmup 1] [--json]
  # conformance: every backbone_<method>.h5 (float64 forward/backward) and module_lorand.h5
  /usr/bin/python3 experiments/bench/torch_peer.py --check-golden ../shared/golden
  # trainable-parameter counts of swin-t/s/b/l per method against the spec's section 4.10 table
  /usr/bin/python3 experiments/bench/torch_peer.py --counts

Each benchmarked method runs in its own child process so that the peak RSS (getrusage ru_maxrss) is
that method's alone.  Reported `trainable_params` counts the backbone's trainable parameters (the
number the spec's table and `deltabench methods` use, here with the benchmark's out_indices);
`head_params` is the classification head, which always trains.  Methods and their rules:

  full         everything trains
  fixed        backbone frozen (only the head trains)
  bitfit       names containing 'bias' (so also attn.relative_position_bias_table)
  norm_tuning  names containing 'norm'
  partial_1    names containing 'layers.3.blocks.1'
  adapter      my_module_{1,2}: z + W2 drop(gelu(W1 z)), width 64, inside each branch before DropPath
  adaptformer  my_module_1: 0.1 * W2 drop(gelu(W1 x1)), parallel to the MLP, input before norm2
  lora         attn.qkv.lora_{A,B}: rank 64, alpha 1 (scale 1/64), on Q and V only
  lorand       lorand{1,2}: STAR's Lorand(C, 2) (4 branches, kernel dim 8), after DropPath of each branch
  mona         my_module_{1,2}: Mona after each residual add, width 64, gamma 1e-6, gammax 1
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {  # embed dim, depths, heads (spec section 5.1)
    'swin-t': (96, (2, 2, 6, 2), (3, 6, 12, 24)),
    'swin-s': (96, (2, 2, 18, 2), (3, 6, 12, 24)),
    'swin-b': (128, (2, 2, 18, 2), (4, 8, 16, 32)),
    'swin-l': (192, (2, 2, 18, 2), (6, 12, 24, 48)),
}

METHODS = ['full', 'fixed', 'bitfit', 'norm_tuning', 'partial_1',
           'adapter', 'adaptformer', 'lora', 'lorand', 'mona']

# Which backbone parameters stay trainable: the name rule of each method's freezing loop.
TRAIN_RULE = {
    'full': lambda n: True,
    'fixed': lambda n: 'my_module' in n,          # no such modules: all frozen
    'bitfit': lambda n: 'bias' in n,
    'norm_tuning': lambda n: 'norm' in n,
    'partial_1': lambda n: 'layers.3.blocks.1' in n,
    'adapter': lambda n: 'my_module' in n,
    'adaptformer': lambda n: 'my_module' in n,
    'lora': lambda n: 'lora_' in n,
    'lorand': lambda n: 'lorand' in n,
    'mona': lambda n: 'my_module' in n,
}

# Spec section 4.10: trainable backbone parameters (out_indices 0..3 unless noted).
SPEC_COUNTS = {
    'swin-t': dict(full=27520698, fixed=0, bitfit=76218, norm_tuning=26112, partial_1=7091928, mona=1408128,
                   adapter=1140864, adaptformer=570432, lora=1130496, lorand=873408),
    'swin-s': dict(full=48838602, fixed=0, bitfit=151242, norm_tuning=44544, partial_1=7091928, mona=2867328,
                   adapter=2331264, adaptformer=1165632, lora=2310144, lorand=1784256),
    'swin-b': dict(full=86745016, fixed=0, bitfit=201656, norm_tuning=59392, partial_1=12601632, mona=3667456,
                   adapter=3107328, adaptformer=1553664, lora=3080192, lorand=2370816),
    'swin-l': dict(full=194998164, fixed=0, bitfit=302484, norm_tuning=89088, partial_1=28339632, mona=5267712,
                   adapter=4659456, adaptformer=2329728, lora=4620288, lorand=3543936),
    'swin-l (out 1-3)': dict(full=194997780, fixed=0, bitfit=302292, norm_tuning=88704, partial_1=28339632,
                             mona=5267712, adapter=4659456, adaptformer=2329728, lora=4620288, lorand=3543936),
}

ADAPTER_WIDTH = 64
MONA_WIDTH = 64


def _is_meta(t):
    return t.device.type == 'meta'


def trunc_normal_init(t, std=0.02):
    """timm's trunc_normal_ with absolute cut-offs +-2 (effectively N(0, std^2) for std 0.02)."""
    if not _is_meta(t):
        with torch.no_grad():
            nn.init.trunc_normal_(t, std=std, a=-2.0, b=2.0)


# --------------------------------------------------------------------------------------------------
# Basic pieces
# --------------------------------------------------------------------------------------------------

class DropPath(nn.Module):
    """Stochastic depth: per-sample keep mask floor(keep + U[0,1)), output scaled by 1/keep; training only."""

    def __init__(self, p):
        super().__init__()
        self.p = float(p)

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        mask = torch.floor(keep + torch.rand(shape, dtype=x.dtype, device=x.device))
        return x / keep * mask


class Mlp(nn.Module):
    def __init__(self, dim, hidden, dd):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, **dd)
        self.fc2 = nn.Linear(hidden, dim, **dd)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class LoRAQKV(nn.Module):
    """qkv projection with low-rank updates on the Q and V chunks (loralib MergedLinear, enable [T, F, T])."""

    def __init__(self, dim, rank, alpha, dd):
        super().__init__()
        self.dim, self.rank = dim, rank
        self.scaling = alpha / rank
        self.weight = nn.Parameter(torch.empty(3 * dim, dim, **dd))
        self.bias = nn.Parameter(torch.empty(3 * dim, **dd))
        self.lora_A = nn.Parameter(torch.empty(2 * rank, dim, **dd))
        self.lora_B = nn.Parameter(torch.empty(2 * dim, rank, **dd))
        if not _is_meta(self.weight):
            nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
            bound = 1.0 / math.sqrt(dim)
            nn.init.uniform_(self.bias, -bound, bound)
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            nn.init.zeros_(self.lora_B)

    def forward(self, x):
        base = F.linear(x, self.weight, self.bias)
        r, c = self.rank, self.dim
        low = F.linear(x, self.lora_A)                       # (..., 2r): [A_q x | A_v x]
        dq = F.linear(low[..., :r], self.lora_B[:c])          # B_q A_q x
        dv = F.linear(low[..., r:], self.lora_B[c:])          # B_v A_v x
        delta = torch.cat([dq, torch.zeros_like(dq), dv], dim=-1)
        return base + delta * self.scaling


def relative_index(M):
    """idx(t1, t2) = (i1 - i2 + M - 1) * (2M - 1) + (j1 - j2 + M - 1) over a window's row-major tokens."""
    ii, jj = torch.meshgrid(torch.arange(M), torch.arange(M), indexing='ij')
    i = ii.reshape(-1)
    j = jj.reshape(-1)
    di = i[:, None] - i[None, :] + (M - 1)
    dj = j[:, None] - j[None, :] + (M - 1)
    return di * (2 * M - 1) + dj


class WindowAttention(nn.Module):
    def __init__(self, dim, window, heads, lora, dd):
        super().__init__()
        self.dim, self.window, self.heads = dim, window, heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads, **dd))
        trunc_normal_init(self.relative_position_bias_table)
        self.register_buffer('relative_position_index', relative_index(window).to(dd['device']),
                             persistent=False)
        if lora:
            self.qkv = LoRAQKV(dim, 64, 1, dd)
        else:
            self.qkv = nn.Linear(dim, 3 * dim, **dd)
        self.proj = nn.Linear(dim, dim, **dd)

    def forward(self, x, mask):
        """x: (B*nW, M*M, C); mask: (nW, M*M, M*M) of 0 / -100, or None."""
        Bw, N, C = x.shape
        h = self.heads
        qkv = self.qkv(x).reshape(Bw, N, 3, h, C // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        scores = q @ k.transpose(-2, -1)                                  # (Bw, h, N, N)
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        scores = scores + bias.reshape(N, N, h).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            scores = scores.reshape(Bw // nw, nw, h, N, N) + mask.unsqueeze(1).unsqueeze(0)
            scores = scores.reshape(Bw, h, N, N)
        attn = torch.softmax(scores, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(Bw, N, C)
        return self.proj(out)


def to_windows(x, M):
    """(B, Hp, Wp, C) -> (B * nW, M*M, C); windows by (batch, window row, window col), tokens row-major."""
    B, Hp, Wp, C = x.shape
    x = x.reshape(B, Hp // M, M, Wp // M, M, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, M * M, C)


def from_windows(w, M, B, Hp, Wp):
    C = w.shape[-1]
    x = w.reshape(B, Hp // M, Wp // M, M, M, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, Hp, Wp, C)


def shift_mask(H, W, M, S, dtype, device):
    """The -100 mask of shifted windows: region ids 3a(r) + b(c) on the padded, rolled canvas."""
    Hp = int(math.ceil(H / M)) * M
    Wp = int(math.ceil(W / M)) * M

    def band(n):
        lab = torch.zeros(n, dtype=torch.long)
        lab[n - M:n - S] = 1
        lab[n - S:] = 2
        return lab

    ids = (3 * band(Hp)[:, None] + band(Wp)[None, :]).reshape(1, Hp, Wp, 1)
    win = to_windows(ids, M).squeeze(-1)                                   # (nW, M*M)
    diff = win[:, None, :] != win[:, :, None]
    return torch.zeros(diff.shape, dtype=dtype, device=device).masked_fill(diff.to(device), -100.0)


# --------------------------------------------------------------------------------------------------
# Tuning modules
# --------------------------------------------------------------------------------------------------

class MonaOp(nn.Module):
    """Multi-cognitive filters: z + avg(dw3, dw5, dw7)(z), then + 1x1 conv, on the un-windowed map."""

    def __init__(self, ch, dd):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1, groups=ch, **dd)
        self.conv2 = nn.Conv2d(ch, ch, 5, padding=2, groups=ch, **dd)
        self.conv3 = nn.Conv2d(ch, ch, 7, padding=3, groups=ch, **dd)
        self.projector = nn.Conv2d(ch, ch, 1, **dd)

    def forward(self, z):
        d = (self.conv1(z) + self.conv2(z) + self.conv3(z)) / 3.0 + z
        return d + self.projector(d)


class Mona(nn.Module):
    def __init__(self, dim, dropout, dd):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6, **dd))
        self.gammax = nn.Parameter(torch.ones(dim, **dd))
        self.project1 = nn.Linear(dim, MONA_WIDTH, **dd)
        self.project2 = nn.Linear(MONA_WIDTH, dim, **dd)
        self.dropout = nn.Dropout(dropout)
        self.adapter_conv = MonaOp(MONA_WIDTH, dd)
        self.norm = nn.LayerNorm(dim, eps=1e-5, **dd)

    def forward(self, x, H, W):
        B, N, C = x.shape
        t = self.norm(x) * self.gamma + x * self.gammax
        p = self.project1(t).reshape(B, H, W, MONA_WIDTH).permute(0, 3, 1, 2)
        q = self.adapter_conv(p).permute(0, 2, 3, 1).reshape(B, N, MONA_WIDTH)
        return x + self.project2(self.dropout(F.gelu(q)))


class Bottleneck(nn.Module):
    """Linear(C->64), GELU, Dropout, Linear(64->C); with the inner residual (Adapter) or without (AdaptFormer)."""

    def __init__(self, dim, dropout, residual, dd):
        super().__init__()
        self.residual = residual
        self.project1 = nn.Linear(dim, ADAPTER_WIDTH, **dd)
        self.project2 = nn.Linear(ADAPTER_WIDTH, dim, **dd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, z):
        y = self.project2(self.dropout(F.gelu(self.project1(z))))
        return z + y if self.residual else y


class LorandMulti(nn.Module):
    """Linear layer whose weight is sum_i (A_i g_i B_i)^T, recomputed every forward."""

    def __init__(self, din, dout, branches, kdim, dd):
        super().__init__()
        self.branches = branches
        self.param_dict = nn.ParameterDict()
        for i in range(branches):
            for key, shape in (('A', (din, kdim)), ('g', (kdim, kdim)), ('B', (kdim, dout))):
                p = nn.Parameter(torch.empty(*shape, **dd))
                if not _is_meta(p):
                    nn.init.kaiming_uniform_(p, a=math.sqrt(5))
                self.param_dict['%s%d' % (key, i)] = p
        self.bias = nn.Parameter(torch.empty(dout, **dd))
        if not _is_meta(self.bias):
            bound = 1.0 / math.sqrt(din)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        pd = self.param_dict
        w = None
        for i in range(self.branches):
            term = (pd['A%d' % i] @ pd['g%d' % i]) @ pd['B%d' % i]          # (din, dout)
            w = term if w is None else w + term
        return x @ w + self.bias


class Lorand(nn.Module):
    """STAR-MMRotate's Lorand(C, factor): z + P2(gelu(P1(z))), P1: C -> C/factor, P2 back to C."""

    def __init__(self, dim, factor, branches, kdim, dd):
        super().__init__()
        hidden = dim // factor
        self.project1 = LorandMulti(dim, hidden, branches, kdim, dd)
        self.project2 = LorandMulti(hidden, dim, branches, kdim, dd)

    def forward(self, z):
        return z + self.project2(F.gelu(self.project1(z)))


# --------------------------------------------------------------------------------------------------
# Backbone
# --------------------------------------------------------------------------------------------------

class SwinBlock(nn.Module):
    def __init__(self, dim, heads, window, shift, mlp_ratio, dpr, method, dropout, dd):
        super().__init__()
        self.window, self.shift, self.method = window, shift, method
        self.norm1 = nn.LayerNorm(dim, eps=1e-5, **dd)
        self.attn = WindowAttention(dim, window, heads, method == 'lora', dd)
        self.drop_path = DropPath(dpr)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5, **dd)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dd)
        if method == 'mona':
            self.my_module_1 = Mona(dim, dropout, dd)
            self.my_module_2 = Mona(dim, dropout, dd)
        elif method == 'adapter':
            self.my_module_1 = Bottleneck(dim, dropout, True, dd)
            self.my_module_2 = Bottleneck(dim, dropout, True, dd)
        elif method == 'adaptformer':
            self.my_module_1 = Bottleneck(dim, dropout, False, dd)
        elif method == 'lorand':
            self.lorand1 = Lorand(dim, 2, 4, 8, dd)
            self.lorand2 = Lorand(dim, 2, 4, 8, dd)

    def attention_branch(self, x, H, W, mask):
        B, N, C = x.shape
        M, S = self.window, self.shift
        y = self.norm1(x).reshape(B, H, W, C)
        pad_r = (M - W % M) % M
        pad_b = (M - H % M) % M
        if pad_r or pad_b:
            y = F.pad(y, (0, 0, 0, pad_r, 0, pad_b))
        Hp, Wp = H + pad_b, W + pad_r
        if S:
            y = torch.roll(y, shifts=(-S, -S), dims=(1, 2))
        w = self.attn(to_windows(y, M), mask if S else None)
        y = from_windows(w, M, B, Hp, Wp)
        if S:
            y = torch.roll(y, shifts=(S, S), dims=(1, 2))
        if pad_r or pad_b:
            y = y[:, :H, :W, :]
        return y.reshape(B, H * W, C)

    def forward(self, x, H, W, mask):
        m = self.method
        a = self.attention_branch(x, H, W, mask)
        if m == 'adapter':
            x1 = x + self.drop_path(self.my_module_1(a))
        elif m == 'lorand':
            x1 = x + self.lorand1(self.drop_path(a))
        else:
            x1 = x + self.drop_path(a)
        if m == 'mona':
            x1 = self.my_module_1(x1, H, W)
        f = self.mlp(self.norm2(x1))
        if m == 'adapter':
            x2 = x1 + self.drop_path(self.my_module_2(f))
        elif m == 'lorand':
            x2 = x1 + self.lorand2(self.drop_path(f))
        elif m == 'adaptformer':
            x2 = x1 + self.drop_path(f) + 0.1 * self.my_module_1(x1)
        else:
            x2 = x1 + self.drop_path(f)
        if m == 'mona':
            x2 = self.my_module_2(x2, H, W)
        return x2


class PatchMerging(nn.Module):
    def __init__(self, dim, dd):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False, **dd)   # registered first, as officially
        self.norm = nn.LayerNorm(4 * dim, eps=1e-5, **dd)

    def forward(self, x, H, W):
        B, N, C = x.shape
        x = x.reshape(B, H, W, C)
        if H % 2 or W % 2:
            x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        # official channel order: (even row, even col), (odd, even), (even, odd), (odd, odd)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        x = x.reshape(B, -1, 4 * C)
        return self.reduction(self.norm(x))


class Stage(nn.Module):
    def __init__(self, dim, depth, heads, window, mlp_ratio, dprs, downsample, method, dropout, dd):
        super().__init__()
        self.window = window
        self.shift = window // 2
        self.blocks = nn.ModuleList([
            SwinBlock(dim, heads, window, 0 if j % 2 == 0 else window // 2, mlp_ratio, dprs[j], method, dropout, dd)
            for j in range(depth)])
        self.downsample = PatchMerging(dim, dd) if downsample else None

    def forward(self, x, H, W):
        mask = shift_mask(H, W, self.window, self.shift, x.dtype, x.device)
        for blk in self.blocks:
            x = blk(x, H, W, mask)
        if self.downsample is None:
            return x, H, W, x, H, W
        y = self.downsample(x, H, W)
        return x, H, W, y, (H + 1) // 2, (W + 1) // 2


class PatchEmbed(nn.Module):
    def __init__(self, patch, embed, dd):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(3, embed, patch, stride=patch, **dd)
        self.norm = nn.LayerNorm(embed, eps=1e-5, **dd)

    def forward(self, img):
        p = self.patch
        H, W = img.shape[-2:]
        if W % p:
            img = F.pad(img, (0, p - W % p))
        if H % p:
            img = F.pad(img, (0, 0, 0, p - H % p))
        x = self.proj(img)
        B, C, Hh, Ww = x.shape
        x = self.norm(x.flatten(2).transpose(1, 2))
        return x.transpose(1, 2).reshape(B, C, Hh, Ww)


class Swin(nn.Module):
    def __init__(self, method, embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window=7, patch=4,
                 mlp_ratio=4.0, out_indices=(0, 1, 2, 3), drop_path_rate=0.2, dropout=0.1, device='cpu',
                 dtype=torch.float32):
        super().__init__()
        assert method in METHODS, method
        dd = dict(device=device, dtype=dtype)
        self.method = method
        self.out_indices = tuple(out_indices)
        self.capture = None          # dict: record intermediates (golden check)
        self.patch_embed = PatchEmbed(patch, embed_dim, dd)
        total = sum(depths)
        dpr = [drop_path_rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]  # linspace
        self.layers = nn.ModuleList()
        start = 0
        self.dims = []
        for s, depth in enumerate(depths):
            dim = embed_dim * 2 ** s
            self.dims.append(dim)
            self.layers.append(Stage(dim, depth, num_heads[s], window, mlp_ratio, dpr[start:start + depth],
                                     s < len(depths) - 1, method, dropout, dd))
            start += depth
        for i in self.out_indices:
            self.add_module('norm%d' % i, nn.LayerNorm(self.dims[i], eps=1e-5, **dd))
        self.reset_backbone_init()
        self.apply_freezing()

    def reset_backbone_init(self):
        """Backbone init_weights(): every nn.Linear trunc-normal(0.02) with bias 0, every LayerNorm (1, 0)."""
        for mod in self.modules():
            if isinstance(mod, nn.Linear):
                trunc_normal_init(mod.weight)
                if mod.bias is not None and not _is_meta(mod.bias):
                    nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.LayerNorm) and not _is_meta(mod.weight):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)
            elif isinstance(mod, LoRAQKV):     # loralib's MergedLinear is an nn.Linear too
                trunc_normal_init(mod.weight)
                if not _is_meta(mod.bias):
                    nn.init.zeros_(mod.bias)

    def apply_freezing(self):
        rule = TRAIN_RULE[self.method]
        for name, p in self.named_parameters():
            p.requires_grad_(rule(name))

    def forward(self, img):
        x = self.patch_embed(img)
        if self.capture is not None:
            self.capture['patch_embed'] = x
        H, W = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        outs = []
        for s, stage in enumerate(self.layers):
            xo, Ho, Wo, x, H, W = stage(x, H, W)
            if self.capture is not None:
                self.capture['stage%d' % s] = xo
            if s in self.out_indices:
                y = getattr(self, 'norm%d' % s)(xo)
                outs.append(y.reshape(y.shape[0], Ho, Wo, -1).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)


def parse_backbone(name):
    """A preset, or deltabench's tiny:<embed>:<d0,d1,d2,d3>:<h0,h1,h2,h3>[:w<window>] -> (e, depths, heads, window)."""
    if name in PRESETS:
        return PRESETS[name] + (7,)
    parts = name.split(':')
    try:
        if parts[0] != 'tiny' or len(parts) not in (4, 5):
            raise ValueError
        d = tuple(int(x) for x in parts[2].split(','))
        h = tuple(int(x) for x in parts[3].split(','))
        w = int(parts[4][1:]) if len(parts) == 5 and parts[4][:1] == 'w' else 7
        if len(parts) == 5 and parts[4][:1] != 'w' or len(d) != 4 or len(h) != 4:
            raise ValueError
        return int(parts[1]), d, h, w
    except ValueError:
        raise SystemExit('torch_peer: unknown backbone %r (%s or tiny:<embed>:<depths>:<heads>[:w<window>])'
                         % (name, ', '.join(sorted(PRESETS))))


def count_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------------------
# Golden check
# --------------------------------------------------------------------------------------------------

def _rel(x, ref):
    x = x.detach().to(torch.float64)
    ref = ref.to(torch.float64)
    den = ref.abs().max().item()
    num = (x - ref).abs().max().item()
    return num / den if den > 0 else num


def _attr_list(v):
    return [int(t) for t in v]


def check_backbone_golden(path, tol_fwd=1e-5, tol_grad=5e-5):
    import h5py
    f = h5py.File(path, 'r')
    a = f.attrs
    method = a['method'] if isinstance(a['method'], str) else a['method'].decode()
    model = Swin(method, embed_dim=int(a['embed_dim']), depths=_attr_list(a['depths']),
                 num_heads=_attr_list(a['num_heads']), window=int(a['window_size']), patch=int(a['patch_size']),
                 mlp_ratio=float(a['mlp_ratio']), out_indices=_attr_list(a['out_indices']),
                 drop_path_rate=0.0, dropout=0.0, dtype=torch.float64)
    model.train()
    problems = []
    params = dict(model.named_parameters())
    file_params = set(f['params'].keys())
    if set(params) != file_params:
        problems.append('parameter names differ: missing in file %s, extra in file %s' % (
            sorted(set(params) - file_params)[:5], sorted(file_params - set(params))[:5]))
    with torch.no_grad():
        for n, p in params.items():
            if n in f['params']:
                t = torch.from_numpy(f['params'][n][()]).to(torch.float64)
                if tuple(t.shape) != tuple(p.shape):
                    problems.append('%s: shape %s vs file %s' % (n, tuple(p.shape), tuple(t.shape)))
                else:
                    p.copy_(t)
    want = [s.decode() if isinstance(s, bytes) else str(s) for s in f['trainable'][()]]
    mine = [n for n, p in params.items() if p.requires_grad]
    set_ok = set(want) == set(mine) and len(want) == len(mine)
    order_ok = want == mine
    n_train = sum(params[n].numel() for n in mine)
    n_want = sum(int(f['params'][n].size) for n in want if n in f['params'])
    if not set_ok:
        problems.append('trainable set differs: only mine %s, only golden %s' % (
            sorted(set(mine) - set(want))[:5], sorted(set(want) - set(mine))[:5]))

    img = torch.from_numpy(f['input/image'][()]).to(torch.float64).requires_grad_(True)
    model.capture = {}
    outs = model(img)
    loss = 0.0
    for k, i in enumerate(model.out_indices):
        loss = loss + (outs[k] * torch.from_numpy(f['loss_weights/out%d' % i][()]).to(torch.float64)).sum()
    loss.backward()

    groups = {}

    def add(group, name, err):
        g = groups.setdefault(group, [0.0, ''])
        if err > g[0] or not g[1]:
            g[0], g[1] = err, name

    for k, i in enumerate(model.out_indices):
        add('outputs', 'out%d' % i, _rel(outs[k], torch.from_numpy(f['outputs/out%d' % i][()])))
    for name in f['intermediates'].keys():
        add('intermediates', name, _rel(model.capture[name], torch.from_numpy(f['intermediates'][name][()])))
    add('grad input', 'image', _rel(img.grad, torch.from_numpy(f['grads/input/image'][()])))
    gp = f['grads/params'] if 'params' in f['grads'] else {}
    for n in gp.keys():
        p = params.get(n)
        if p is None:
            problems.append('gradient for unknown parameter %s' % n)
            continue
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        add('grad params', n, _rel(g, torch.from_numpy(gp[n][()])))
    if set(gp.keys()) != set(want):
        problems.append('grads/params names differ from trainable')
    loss_err = abs(loss.item() - float(a['loss'])) / max(abs(float(a['loss'])), 1e-300)
    for gname, (err, worst) in groups.items():
        tol = tol_grad if gname.startswith('grad') else tol_fwd
        if not err <= tol:
            problems.append('%s error %.3g > %.0e (%s)' % (gname, err, tol, worst))
    return dict(file=os.path.basename(path), method=method, groups=groups, loss_rel=loss_err,
                trainable_set_ok=set_ok, trainable_order_ok=order_ok, trainable_count=n_train,
                golden_count=n_want, problems=problems)


def check_lorand_golden(path, tol_fwd=1e-5, tol_grad=5e-5):
    import h5py
    f = h5py.File(path, 'r')
    a = f.attrs
    mod = Lorand(int(a['in_dim']), int(a['factor']), int(a['num_branch']), int(a['kernel_dim']),
                 dict(device='cpu', dtype=torch.float64))
    problems = []
    params = dict(mod.named_parameters())
    if set(params) != set(f['params'].keys()):
        problems.append('parameter names differ: %s vs %s' % (sorted(params)[:4], sorted(f['params'].keys())[:4]))
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(torch.from_numpy(f['params'][n][()]).to(torch.float64))
    x = torch.from_numpy(f['input/x'][()]).to(torch.float64).requires_grad_(True)
    y = mod(x)
    loss = (y * torch.from_numpy(f['loss_weights/y'][()]).to(torch.float64)).sum()
    loss.backward()
    groups = {'outputs': [_rel(y, torch.from_numpy(f['outputs/y'][()])), 'y'],
              'grad input': [_rel(x.grad, torch.from_numpy(f['grads/input/x'][()])), 'x']}
    worst = [0.0, '']
    for n in f['grads/params'].keys():
        e = _rel(params[n].grad, torch.from_numpy(f['grads/params'][n][()]))
        if e > worst[0] or not worst[1]:
            worst = [e, n]
    groups['grad params'] = worst
    for gname, (err, w) in groups.items():
        tol = tol_grad if gname.startswith('grad') else tol_fwd
        if not err <= tol:
            problems.append('%s error %.3g > %.0e (%s)' % (gname, err, tol, w))
    loss_err = abs(loss.item() - float(a['loss'])) / max(abs(float(a['loss'])), 1e-300)
    return dict(file=os.path.basename(path), method='lorand (module)', groups=groups, loss_rel=loss_err,
                trainable_set_ok=True, trainable_order_ok=True, trainable_count=sum(p.numel() for p in params.values()),
                golden_count=sum(int(f['params'][n].size) for n in f['params'].keys()), problems=problems)


def run_check_golden(folder, as_json):
    files = [os.path.join(folder, 'backbone_%s.h5' % m) for m in METHODS]
    files = [p for p in files if os.path.exists(p)]
    results = [check_backbone_golden(p) for p in files]
    lorand = os.path.join(folder, 'module_lorand.h5')
    if os.path.exists(lorand):
        results.append(check_lorand_golden(lorand))
    bad = [r for r in results if r['problems']]
    if as_json:
        print(json.dumps(dict(peer='pytorch', torch_version=torch.__version__, golden=results), indent=1))
    else:
        print('golden check, float64, torch %s; error = max|x - ref| / max|ref| (references are stored as float32)'
              % torch.__version__)
        print('%-26s %-10s %-10s %-10s %-10s %-10s %-9s %s' % (
            'file', 'outputs', 'interm.', 'grad in', 'grad par', 'loss', 'trainable', 'count'))
        for r in results:
            g = r['groups']

            def e(k):
                return '%.2e' % g[k][0] if k in g else '-'
            tr = ('ok' if r['trainable_set_ok'] else 'DIFFERS') + ('' if r['trainable_order_ok'] else '(order)')
            print('%-26s %-10s %-10s %-10s %-10s %-10.2e %-9s %d/%d %s' % (
                r['file'], e('outputs'), e('intermediates'), e('grad input'), e('grad params'), r['loss_rel'],
                tr, r['trainable_count'], r['golden_count'], 'PASS' if not r['problems'] else 'FAIL'))
            for p in r['problems']:
                print('    problem: %s' % p)
        print('%d of %d files pass' % (len(results) - len(bad), len(results)))
    return 1 if bad else 0


# --------------------------------------------------------------------------------------------------
# Parameter counts
# --------------------------------------------------------------------------------------------------

def run_counts(as_json):
    rows = []
    for label, table in SPEC_COUNTS.items():
        bb = label.split()[0]
        outs = (1, 2, 3) if 'out 1-3' in label else (0, 1, 2, 3)
        e, d, h = PRESETS[bb]
        for m in METHODS:
            model = Swin(m, embed_dim=e, depths=d, num_heads=h, out_indices=outs, device='meta')
            n = count_trainable(model)
            total = sum(p.numel() for p in model.parameters())
            rows.append(dict(backbone=label, method=m, trainable=n, spec=table[m], total=total,
                             percent=100.0 * n / total, match=(n == table[m])))
    if as_json:
        print(json.dumps(dict(peer='pytorch', counts=rows), indent=1))
    else:
        print('%-18s %-12s %12s %12s %8s %s' % ('backbone', 'method', 'trainable', 'spec 4.10', '%', 'match'))
        for r in rows:
            print('%-18s %-12s %12d %12d %7.3f%% %s' % (r['backbone'], r['method'], r['trainable'], r['spec'],
                                                     r['percent'], 'ok' if r['match'] else 'MISMATCH'))
        print('%d of %d counts match' % (sum(r['match'] for r in rows), len(rows)))
    return 0 if all(r['match'] for r in rows) else 1


# --------------------------------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------------------------------

class Classifier(nn.Module):
    def __init__(self, backbone, classes):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.dims[backbone.out_indices[-1]], classes)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def forward(self, img):
        feat = self.backbone(img)[-1]
        return self.head(feat.mean(dim=(2, 3)))


def bench_one(args, method):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    e, d, h = PRESETS[args.backbone]
    backbone = Swin(method, embed_dim=e, depths=d, num_heads=h, out_indices=(3,),
                    drop_path_rate=args.drop_path_rate, dropout=args.dropout)
    model = Classifier(backbone, args.classes)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.05)
    g = torch.Generator().manual_seed(args.seed + 1)
    img = torch.randn(args.batch, 3, args.size, args.size, generator=g)
    labels = torch.randint(0, args.classes, (args.batch,), generator=g)
    times = []
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(img), labels)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if step >= args.warmup:
            times.append(dt)
    med = statistics.median(times)
    return dict(method=method, median_step_s=med, images_per_s=args.batch / med,
                peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                trainable_params=count_trainable(backbone),
                head_params=sum(p.numel() for p in model.head.parameters()),
                step_times_s=times, final_loss=float(loss.item()))


def run_bench(args):
    methods = METHODS if args.methods == 'all' else [m.strip() for m in args.methods.split(',') if m.strip()]
    for m in methods:
        if m not in METHODS:
            sys.stderr.write('torch_peer: unknown method %r (choose from %s or all)\n' % (m, ','.join(METHODS)))
            return 2
    results = []
    for m in methods:
        cmd = [sys.executable, os.path.abspath(__file__), '--child-method', m, '--backbone', args.backbone,
               '--size', str(args.size), '--batch', str(args.batch), '--threads', str(args.threads),
               '--steps', str(args.steps), '--warmup', str(args.warmup), '--seed', str(args.seed),
               '--classes', str(args.classes), '--drop-path-rate', str(args.drop_path_rate),
               '--dropout', str(args.dropout)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        if proc.returncode != 0:
            sys.stderr.write('torch_peer: method %s failed:\n%s\n' % (m, proc.stderr))
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        if not args.json:
            print('%-12s %8.3f s/step %8.2f img/s  peak RSS %7.1f MiB  trainable %d (+ head %d)' % (
                m, r['median_step_s'], r['images_per_s'], r['peak_rss_bytes'] / 2 ** 20, r['trainable_params'],
                r['head_params']), flush=True)
    if args.json:
        print(json.dumps(dict(peer='pytorch', torch_version=torch.__version__, threads=args.threads,
                              backbone=args.backbone, size=args.size, batch=args.batch, steps=args.steps,
                              warmup=args.warmup, drop_path_rate=args.drop_path_rate, dropout=args.dropout,
                              results=results), indent=1))
    return 0


# --------------------------------------------------------------------------------------------------
# Shared by the dense peers (torch_peer_retinanet.py, torch_peer_upernet.py, torch_peer_cascade.py): the
# common flags, the timed training loop, the per-method result, the child processes and the JSON summary
# --------------------------------------------------------------------------------------------------

def dense_arg_parser(description, size, batch, classes, classes_help, batch_help='batch size (default %d)'):
    """The flags every dense peer takes (its own are added by the caller)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument('--backbone', default='swin-t', help='swin-t|swin-s|swin-b|swin-l or tiny:... (default swin-t)')
    ap.add_argument('--size', type=int, default=size, help='square image side (default %d)' % size)
    ap.add_argument('--batch', type=int, default=batch, help=batch_help % batch)
    ap.add_argument('--threads', type=int, default=2, help='torch.set_num_threads (default 2)')
    ap.add_argument('--steps', type=int, default=5, help='timed training steps per method (default 5)')
    ap.add_argument('--warmup', type=int, default=3, help='untimed warm-up steps (default 3)')
    ap.add_argument('--methods', default='all', help='comma-separated list or all (default all)')
    ap.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    ap.add_argument('--classes', type=int, default=classes, help=classes_help % classes)
    ap.add_argument('--drop-path-rate', type=float, default=0.2, help='stochastic depth (default 0.2)')
    ap.add_argument('--dropout', type=float, default=0.1, help='dropout inside the tuning modules (default 0.1)')
    ap.add_argument('--json', action='store_true', help='print JSON instead of text')
    ap.add_argument('--child-method', help=argparse.SUPPRESS)
    return ap


def timed_train_steps(opt, loss_fn, warmup, steps):
    """warmup + steps training steps: zero_grad, loss_fn() -> (total loss, {part: tensor}), backward, opt.step();
    returns the timed steps' seconds, the last loss and its parts as floats."""
    times = []
    loss, parts = None, {}
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss, parts = loss_fn()
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if step >= warmup:
            times.append(dt)
    return times, float(loss.item()), {k: float(v.item()) if torch.is_tensor(v) else float(v) for k, v in parts.items()}


def dense_step_result(method, times, batch, trainable, backbone, final_loss, parts):
    """One method's record, as the dense peers print it (the keys deltabench reads: median_step_s, min_step_s,
    peak_rss_bytes, trainable_params, final_loss and the loss parts by name)."""
    med = statistics.median(times)
    r = dict(method=method, median_step_s=med, min_step_s=min(times), images_per_s=batch / med,
             peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
             trainable_params=sum(p.numel() for p in trainable),
             backbone_trainable_params=sum(p.numel() for p in backbone.parameters() if p.requires_grad),
             step_times_s=times, final_loss=final_loss)
    r.update(parts)
    return r


def run_dense_bench(args, script, prog, task, config_keys):
    """Every method of args.methods in its own child process (`script --child-method M` with the same flags, so
    that each method's peak RSS is its own); text lines or one JSON object (config_keys: the task's own flags,
    printed after warmup) on stdout. Returns the exit status."""
    methods = METHODS if args.methods == 'all' else [m.strip() for m in args.methods.split(',') if m.strip()]
    for m in methods:
        if m not in METHODS:
            sys.stderr.write('%s: unknown method %r (choose from %s or all)\n' % (prog, m, ','.join(METHODS)))
            return 2
    results = []
    for m in methods:
        cmd = [sys.executable, os.path.abspath(script), '--child-method', m]
        for k, v in sorted(vars(args).items()):
            if k in ('child_method', 'json', 'methods') or v is None or v is False:
                continue
            cmd += ['--' + k.replace('_', '-')] if v is True else ['--' + k.replace('_', '-'), str(v)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        if proc.returncode != 0:
            sys.stderr.write('%s: method %s failed:\n%s\n' % (prog, m, proc.stderr))
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        if not args.json:
            print('%-12s %8.3f s/step (min %.3f) %8.2f img/s  peak RSS %7.1f MiB  trainable %d  loss %.4f' % (
                m, r['median_step_s'], r['min_step_s'], r['images_per_s'], r['peak_rss_bytes'] / 2 ** 20,
                r['trainable_params'], r['final_loss']), flush=True)
    if args.json:
        out = dict(peer='pytorch', task=task, torch_version=torch.__version__, threads=args.threads,
                   backbone=args.backbone, size=args.size, batch=args.batch, steps=args.steps, warmup=args.warmup)
        for k in config_keys:
            out[k] = getattr(args, k)
        out['classes'] = args.classes
        out['results'] = results
        print(json.dumps(out, indent=1))
    return 0


def dense_main(args, script, prog, task, config_keys, bench_one):
    """The child prints its method's record; the parent runs the children."""
    if args.child_method:
        print(json.dumps(bench_one(args, args.child_method)))
        return 0
    return run_dense_bench(args, script, prog, task, config_keys)


def main(argv=None):
    ap = argparse.ArgumentParser(description='PyTorch peer of deltabench: Swin backbone + ten tuning methods '
                                 '(benchmark, golden check, parameter counts)')
    ap.add_argument('--backbone', default='swin-t', choices=sorted(PRESETS), help='preset (default swin-t)')
    ap.add_argument('--size', type=int, default=224, help='square image side (default 224)')
    ap.add_argument('--batch', type=int, default=8, help='batch size (default 8)')
    ap.add_argument('--threads', type=int, default=2, help='torch.set_num_threads (default 2)')
    ap.add_argument('--steps', type=int, default=5, help='timed training steps per method (default 5)')
    ap.add_argument('--warmup', type=int, default=1, help='untimed warm-up steps (default 1)')
    ap.add_argument('--methods', default='all', help='comma-separated list or all (default all)')
    ap.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    ap.add_argument('--classes', type=int, default=100, help='classes of the linear head (default 100)')
    ap.add_argument('--drop-path-rate', type=float, default=0.2,
                    help='stochastic-depth rate, linear over blocks (default 0.2)')
    ap.add_argument('--dropout', type=float, default=0.1,
                    help='dropout inside Mona/Adapter/AdaptFormer (default 0.1, as coded)')
    ap.add_argument('--json', action='store_true', help='print JSON instead of text')
    ap.add_argument('--check-golden', metavar='DIR', help='check every backbone_<method>.h5 and module_lorand.h5')
    ap.add_argument('--counts', action='store_true', help='trainable-parameter counts vs the spec (4.10)')
    ap.add_argument('--child-method', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.check_golden:
        torch.set_num_threads(args.threads)
        return run_check_golden(args.check_golden, args.json)
    if args.counts:
        return run_counts(args.json)
    if args.child_method:
        print(json.dumps(bench_one(args, args.child_method)))
        return 0
    return run_bench(args)


if __name__ == '__main__':
    sys.exit(main())
