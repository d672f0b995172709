"""Write the e2e test's images into the folder given as argv[1]: four good ones (the coins
picture from scikit-image among them) and one that is not an image at all."""

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
Image.fromarray(data.coins()).save(out / "coins.png")
Image.fromarray(data.camera()).resize((256, 256)).save(out / "camera.jpg", quality=90)
Image.fromarray(data.astronaut()).resize((256, 256)).save(out / "astronaut.png")
rng = np.random.default_rng(7)
Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(out / "noise.webp")
(out / "notes.png").write_bytes(b"this is not an image, whatever its name says\n" * 4)
