"""Side-by-side figures for bench/validate.ts (Debian's python3-pil / python3-torchvision).

pillow <list-file> <rounds>: per-image ms of Pillow's decode + resize + center crop (timm's
  eval transform: shorter side to 256 bilinear, crop 224), one thread, median of rounds.
loader <root> <workers> <batch> <rounds>: images/s of torchvision ImageFolder + DataLoader
  (Resize 256 bilinear, CenterCrop 224, ToTensor, Normalize), the data side of timm's
  validate loop; no model (PyTorch has no RepGhostNet without the official code).
Prints one JSON object.
"""
import json
import statistics
import sys
import time

from PIL import Image


def pillow(list_file, rounds):
    files = [l.rstrip('\n') for l in open(list_file) if l.strip()]
    per_round = []
    decode_round = []
    for _ in range(rounds):
        t_all = 0.0
        t_dec = 0.0
        for f in files:
            t0 = time.perf_counter()
            img = Image.open(f).convert('RGB')
            t1 = time.perf_counter()
            w, h = img.size
            if w <= h:
                size = (256, int(256 * h / w))
            else:
                size = (int(256 * w / h), 256)
            img = img.resize(size, Image.BILINEAR)
            left = int(round((size[0] - 224) / 2.0))
            top = int(round((size[1] - 224) / 2.0))
            img = img.crop((left, top, left + 224, top + 224))
            img.tobytes()  # make sure the lazy crop is materialized
            t2 = time.perf_counter()
            t_all += t2 - t0
            t_dec += t1 - t0
        per_round.append(1000 * t_all / len(files))
        decode_round.append(1000 * t_dec / len(files))
    return {'ms_per_image': statistics.median(per_round), 'decode_ms_per_image': statistics.median(decode_round),
            'rounds_ms_per_image': per_round, 'images': len(files), 'pillow': Image.__version__}


def loader(root, workers, batch, rounds):
    import torch
    import torchvision
    from torchvision import transforms as T
    torch.set_num_threads(1)
    tf = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    ds = torchvision.datasets.ImageFolder(root, transform=tf)
    rates = []
    for _ in range(rounds):
        dl = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers, shuffle=False)
        t0 = time.perf_counter()
        n = 0
        for x, _y in dl:
            n += x.shape[0]
        rates.append(n / (time.perf_counter() - t0))
    return {'images_per_second': statistics.median(rates), 'rounds_images_per_second': rates, 'images': len(ds),
            'workers': workers, 'batch_size': batch, 'torch': torch.__version__, 'torchvision': torchvision.__version__}


if __name__ == '__main__':
    mode = sys.argv[1]
    if mode == 'pillow':
        out = pillow(sys.argv[2], int(sys.argv[3]))
    else:
        out = loader(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    print(json.dumps(out))
