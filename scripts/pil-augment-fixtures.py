#!/usr/bin/python3
"""Writes test/data/fixtures/pil-augment.json: the outputs of Pillow's ops that timm's
RandAugment and torchvision's ColorJitter call, on one small image, for
test/data/augment-pil.test.ts to compare with src/data/augment/ byte for byte.

Made with Debian 12's python3-pil (Pillow 9.4.0, the version of shared/):
    apt-get install python3-pil && /usr/bin/python3 scripts/pil-augment-fixtures.py
"""
import base64
import json
import os

import PIL
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

W, H = 23, 17
FILL = (124, 116, 104)


def make_input():
    # A gradient with structure and a limited range per band, plus LCG noise.
    state = 12345
    data = bytearray()
    for y in range(H):
        for x in range(W):
            for b in range(3):
                state = (state * 1103515245 + 12345) & 0x7FFFFFFF
                base = (40 + 7 * x + 5 * y + 60 * b + (90 if (x // 4 + y // 4) % 2 else 0)) % 200
                data.append(min(255, base + (state >> 16) % 30))
    return Image.frombytes('RGB', (W, H), bytes(data))


def lut_solarize_add(img, add, thresh=128):
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    return img.point(lut * 3)


RESAMPLE = {'nearest': Image.NEAREST, 'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC}


def main():
    img = make_input()
    cases = []

    def add(op, args, out, resample=None):
        case = {'op': op, 'args': args, 'output': base64.b64encode(out.tobytes()).decode()}
        if resample:
            case['resample'] = resample
        cases.append(case)

    add('autocontrast', [], ImageOps.autocontrast(img))
    add('equalize', [], ImageOps.equalize(img))
    add('invert', [], ImageOps.invert(img))
    add('solarize', [100], ImageOps.solarize(img, 100))
    add('posterize', [3], ImageOps.posterize(img, 3))
    add('solarizeAdd', [60], lut_solarize_add(img, 60))
    for f in (0.1, 0.3, 1.72, 1.9):
        add('color', [f], ImageEnhance.Color(img).enhance(f))
        add('contrast', [f], ImageEnhance.Contrast(img).enhance(f))
        add('brightness', [f], ImageEnhance.Brightness(img).enhance(f))
        add('sharpness', [f], ImageEnhance.Sharpness(img).enhance(f))
    add('smooth', [], img.filter(ImageFilter.SMOOTH))
    for name, r in RESAMPLE.items():
        add('shearX', [0.27], img.transform(img.size, Image.AFFINE, (1, 0.27, 0, 0, 1, 0), resample=r, fillcolor=FILL), name)
        add('shearY', [-0.19], img.transform(img.size, Image.AFFINE, (1, 0, 0, -0.19, 1, 0), resample=r, fillcolor=FILL), name)
        add('translateX', [4.3], img.transform(img.size, Image.AFFINE, (1, 0, 4.3, 0, 1, 0), resample=r, fillcolor=FILL), name)
        add('translateY', [-3.7], img.transform(img.size, Image.AFFINE, (1, 0, 0, 0, 1, -3.7), resample=r, fillcolor=FILL), name)
        for deg in (27.3, -13.0, 90.0):
            add('rotate', [deg], img.rotate(deg, resample=r, fillcolor=FILL), name)
    json.dump({
        'pillow': PIL.__version__, 'width': W, 'height': H, 'fill': FILL,
        'input': base64.b64encode(img.tobytes()).decode(), 'cases': cases,
    }, open(os.path.join(os.path.dirname(__file__), '..', 'test', 'data', 'fixtures', 'pil-augment.json'), 'w'), indent=0)


main()
