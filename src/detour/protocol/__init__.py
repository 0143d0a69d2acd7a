"""Wire protocols: the neutral model (messages), one codec per wire format, and the error taxonomy.

``codec.CODECS`` is the one list of protocols: name -> a ``codec.Codec`` object that owns its whole wire
(path, auth headers, bodies both ways, SSE both ways, error bodies, planner facts). Each protocol splits
the same way: ``x.py`` holds request and response bodies and ``CODEC``; ``x_stream.py`` holds the
``StreamDecoder`` / ``StreamEncoder`` and the wire pieces bodies share with streams (usage, finish
reasons, error envelopes). ``x.py`` imports ``x_stream.py``, never the reverse; ``codec.py`` imports
every ``x.py``, and nothing here imports ``codec.py``.
"""
