"""PyTorch side of `npm run bench:train` (not part of the package; needs Debian's python3-torch).

Builds RepGhostNet in PyTorch from repghost's own spec, exported as JSON by bench/train.ts
(`{"spec": ModelSpec, "layers": Layer[]}`: src/spec's buildSpec and layers()), instead of a copy
of the official model code: every Conv2d / BatchNorm2d / Linear comes from the layer list, under
the layer's PyTorch module name (so state_dict() keys are the official ones), and forward() walks
the spec's stages and the layers each block names, with the semantics of src/train/network.ts.

Then times the training step REFERENCE.md describes: train-mode forward, timm's label-smoothing
cross entropy (0.1), backward, SGD Nesterov step (momentum 0.9, weight decay 1e-5 except biases
and BN, as timm), on random data, at the requested thread count. Prints one JSON line.

`--verify <golden dir>` instead loads the official checkpoint.pth (or model.pth) of a golden folder into the
model built from the spec and compares eval-mode logits with its expected.safetensors: proof that
what is timed here is the official network.
"""

import argparse
import json
import os
import statistics
import struct
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


class SpecNet(nn.Module):
    """RepGhostNet assembled from repghost's spec and layer list."""

    def __init__(self, exported):
        super().__init__()
        self.spec = exported["spec"]
        self.by_name = {}
        for layer in exported["layers"]:
            self._add(layer["name"], self._leaf(layer))

    @staticmethod
    def _leaf(layer):
        kind = layer["kind"]
        if kind == "conv":
            return nn.Conv2d(layer["inChannels"], layer["outChannels"], layer["kernel"], layer["stride"],
                             layer["pad"], groups=layer["groups"], bias=layer["bias"])
        if kind == "bn":
            return nn.BatchNorm2d(layer["channels"], eps=layer["eps"])
        if kind == "linear":
            return nn.Linear(layer["inFeatures"], layer["outFeatures"])
        raise ValueError(f"unknown layer kind {kind!r}")

    def _add(self, name, module):
        """Registers `module` under its dotted PyTorch path, creating empty containers on the way."""
        parent = self
        parts = name.split(".")
        for part in parts[:-1]:
            child = parent._modules.get(part)
            if child is None:
                child = nn.Module()
                parent.add_module(part, child)
            parent = child
        parent.add_module(parts[-1], module)
        self.by_name[name] = module

    def _bn(self, layer, x, relu, z=None):
        y = self.by_name[layer["name"]](x)
        if z is not None:
            y = y + z
        return F.relu(y) if relu else y

    def _conv(self, layer, x):
        return self.by_name[layer["name"]](x)

    def _conv_bn(self, pair, x, relu, z=None):
        return self._bn(pair["bn"], self._conv(pair["conv"], x), relu, z)

    def _chain(self, chain, x):
        """A fusion branch: per-channel layers in order ([] is the identity)."""
        for layer in chain:
            x = self.by_name[layer["name"]](x)
        return x

    def _ghost(self, g, x):
        x1 = self._conv_bn(g["primary"], x, g["relu"])
        fusion = None if g["fusionBranch"] is None else self._chain(g["fusionBranch"], x1)
        return self._conv_bn(g["cheap"], x1, g["relu"], fusion)

    def _squeeze_excite(self, se, x):
        s = x.mean((2, 3), keepdim=True)
        s = self._conv(se["expand"], F.relu(self._conv(se["reduce"], s)))
        return x * (F.relu6(s + 3.0) / 6.0)  # the official hard_sigmoid gate

    def _bottleneck(self, b, x):
        h = self._ghost(b["ghost1"], x)
        if b["downsample"]:
            h = self._conv_bn(b["downsample"], h, False)
        if b["se"]:
            h = self._squeeze_excite(b["se"], h)
        out = self._ghost(b["ghost2"], h)
        if b["shortcut"] == "none":
            return out
        if b["shortcut"] == "identity":
            return out + x
        first, second = b["shortcutPath"]
        return self._conv_bn(second, self._conv_bn(first, x, False), False, out)

    def forward(self, x):
        spec = self.spec
        h = self._conv_bn(spec["stem"], x, True)
        for stage in spec["stages"]:
            for block in stage:
                if block["kind"] == "bottleneck":
                    h = self._bottleneck(block, h)
                else:
                    h = self._conv_bn(block["layer"], h, True)
        h = F.relu(self._conv(spec["head"], h.mean((2, 3), keepdim=True))).flatten(1)
        if spec["dropout"] > 0:
            h = F.dropout(h, p=spec["dropout"], training=self.training)
        return self.by_name[spec["classifier"]["name"]](h)


def label_smoothing_ce(logits, target, smoothing):
    """timm's LabelSmoothingCrossEntropy."""
    logprobs = F.log_softmax(logits, dim=-1)
    nll = -logprobs.gather(dim=-1, index=target.unsqueeze(1)).squeeze(1)
    return ((1.0 - smoothing) * nll - smoothing * logprobs.mean(dim=-1)).mean()


def sgd_for(model, lr, weight_decay):
    """timm's optimizer factory: no weight decay on 1-d parameters and biases."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]
    return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)


def time_steps(args, exported):
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(not args.keep_denormals)
    torch.manual_seed(1)
    model = SpecNet(exported).train()
    opt = sgd_for(model, 0.01, 1e-5)
    classes = exported["spec"]["numClasses"]
    x = torch.randn(args.batch, 3, args.input, args.input)
    y = torch.randint(0, classes, (args.batch,))
    steps, loss = [], float("nan")
    for s in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = label_smoothing_ce(model(x), y, 0.1)
        out.backward()
        opt.step()
        loss = out.item()
        dt = time.perf_counter() - t0
        if s >= args.warmup:
            steps.append(dt * 1000)
    med = statistics.median(steps)
    return {
        "torch": torch.__version__, "threads": torch.get_num_threads(), "flush_denormal": not args.keep_denormals,
        "params": sum(p.numel() for p in model.parameters()), "steps": len(steps), "step_ms": steps,
        "median_step_ms": med, "images_per_s": args.batch * 1000 / med, "loss": loss,
    }


def read_safetensors(path):
    """Minimal safetensors reader (F32 only): the format is an 8-byte header length, JSON, raw data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for key, info in header.items():
        if key == "__metadata__" or info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        out[key] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(info["shape"])
    return out


def verify(args, exported):
    model = SpecNet(exported).eval()
    name = "checkpoint.pth" if os.path.exists(f"{args.verify}/checkpoint.pth") else "model.pth"
    ckpt = torch.load(f"{args.verify}/{name}", map_location="cpu")
    state = ckpt.get("state_dict", ckpt)
    state.pop("_metadata", None)
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}  # a DDP-wrapped save
    model.load_state_dict(state, strict=True)  # strict: the spec's module names are exactly the official keys
    x = read_safetensors(args.verify_input)["input"]
    want = read_safetensors(f"{args.verify}/expected.safetensors")["logits_train"]
    with torch.no_grad():
        got = model(x)
    diff = (got - want).abs().max().item()
    return {"golden": args.verify, "keys": len(state), "max_abs_diff_logits": diff, "ok": diff <= 1e-4}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", required=True, help="JSON file {spec, layers} written by bench/train.ts")
    p.add_argument("--input", type=int, default=224)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--keep-denormals", action="store_true", help="do not call torch.set_flush_denormal(True)")
    p.add_argument("--verify", help="golden folder holding checkpoint.pth and expected.safetensors")
    p.add_argument("--verify-input", help="input_224.safetensors for --verify")
    args = p.parse_args()
    with open(args.spec, encoding="utf8") as f:
        exported = json.load(f)
    result = verify(args, exported) if args.verify else time_steps(args, exported)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
