"""The pure domain: values and byte formats of Disco, with no I/O, clocks or processes."""
