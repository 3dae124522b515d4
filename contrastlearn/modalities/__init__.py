"""One package per kind of data (a room). Each registers one `Modality` object and its own
views, encoders, methods and datasets when imported; `contrastlearn.plugins` imports them,
leaving out a room whose optional dependencies are missing."""
