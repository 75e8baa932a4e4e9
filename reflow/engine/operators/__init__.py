"""The engine's operators: stateless ones (``stateless``) and those that keep state
(``reduce``, ``join``, ``keyed``, ``ordered``, ``temporal``, ``asof``, ``memo_map``,
``future_map``), each keeping its state in the structures of ``reflow.engine.state``."""
