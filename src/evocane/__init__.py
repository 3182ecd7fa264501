"""evocane: a polyploid-aware genomic language-model benchmark and workflow for sugarcane."""

__version__ = "0.1.0"
