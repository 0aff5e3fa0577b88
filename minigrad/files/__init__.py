"""Safe file I/O: atomic writes, bounded reads (JSON, npz, text), folder locks, output paths."""
