"""The trending-topics showcase: a generated social stream, a reflow pipeline that places,
judges, scores and predicts it, and a live map served with FastAPI (see README.md)."""
