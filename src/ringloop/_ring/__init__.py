"""The ring layer: the only importer of the cffi module (``_ffi``, built from csrc/).

``ring`` (the Ring: queue, submit, harvest, dispatch), ``bufring`` (the
provided-buffer pool), ``memory`` (pins and page-aligned buffers), ``options``
(RingOptions), ``refusal`` (why a setup was refused), ``errors`` (RingClosedError
and the result codes every layer compares against), ``info`` (what the kernel
offers).  Nothing here knows about asyncio.
"""
