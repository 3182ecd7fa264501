"""Genome room: streaming FASTA/GFF3 I/O, acquisition, homology-group parsing and QC."""
