"""Ways to store an image data set on disk, built from the same folder and read back the same way
(the data-storage lesson).

One module per format, each with a builder (``build_*``: checks every file, skips the broken ones,
writes) and a reader (``*Reader``: a shuffled epoch of ``(image, label, key)`` and, where the format
allows, one sample by position):

- ``image_folder``: JPEG files in class folders, torchvision's ``ImageFolder``;
- ``tensor_cache``: every image decoded once into one uint8 tensor (the dataloaders lesson's cache);
- ``hf_arrow``: Hugging Face ``datasets``, the JPEG bytes in a memory-mapped Arrow table;
- ``webdataset_shards``: tar shards read as a stream, shuffled by shard and through a buffer;
- ``litdata_chunks``: LitData's ``optimize`` chunks and its ``StreamingDataset``;
- ``deeplake_store``: Deep Lake 4, a versioned columnar data set with queries.

``source`` makes and lists the source folder and holds the one check every builder runs;
``measure`` has the measurements (bytes, images/s, latency, shuffle quality); ``compare`` runs
them all side by side. The optional packages (``datasets``, ``webdataset``, ``litdata``,
``deeplake``) are imported only when their format is used.
"""

from e2edl.data.formats.compare import FORMATS, Settings, StorageFormat, compare_formats, comparison_rows
from e2edl.data.formats.source import Built, ImageSource, make_source_folder, scan_image_folder, sort_out

__all__ = [
    "FORMATS",
    "Built",
    "ImageSource",
    "Settings",
    "StorageFormat",
    "compare_formats",
    "comparison_rows",
    "make_source_folder",
    "scan_image_folder",
    "sort_out",
]
