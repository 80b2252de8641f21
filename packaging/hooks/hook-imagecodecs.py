"""PyInstaller hook for imagecodecs (tifffile's codecs for compressed TIFF files).

imagecodecs imports each codec's extension module by name on first use (``lzw_decode`` →
``imagecodecs._imcd``), so PyInstaller's import analysis finds none of them, and the
bundle could not read LZW-, PackBits-, JPEG- or Zstandard-compressed TIFFs ("could not
import name 'lzw_decode' from 'imagecodecs'"). The whole package is 80 MB with its
libraries; only the codecs that TIFF files use are collected (the modules tifffile loads
for them in a normal install: zlib/Deflate, LZW/PackBits/predictors, JPEG, LZMA, Zstd).
"""

hiddenimports = [
    "imagecodecs.imagecodecs",
    "imagecodecs._shared",
    "imagecodecs._shared_cython",
    "imagecodecs._imcd",      # LZW, PackBits, delta and floating-point predictors
    "imagecodecs._zlib",
    "imagecodecs._deflate",
    "imagecodecs._lzma",
    "imagecodecs._jpeg8",
    "imagecodecs._zstd",
]
