"""Ground floor: the sample types (``sample_types``), the one sample schema, JSONL I/O and the synthetic generator."""
from mixed_r1.data.schema import SAMPLE_TYPES, Sample, load_samples, write_samples
from mixed_r1.errors import DataError

__all__ = ["SAMPLE_TYPES", "DataError", "Sample", "load_samples", "write_samples"]
