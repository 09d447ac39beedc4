# syntax=docker/dockerfile:1
# Kalas-Iris images for the production path (compose.yaml). Two targets share one dependency layer:
#   torchserve  TorchServe (Java 17) with the two .mar archives built in the image
#   app         the API and the worker (the default target; compose.yaml picks the command)
#
#   docker build -t kalas-iris .                                    # CPU (default)
#   docker build -t kalas-iris --build-arg ACCELERATOR=cuda .       # CUDA torch and faiss-gpu
#   docker build -t kalas-iris --build-arg TORCH_INDEX_URL=<PyTorch's CPU wheel index> .   # smaller CPU image
#
# The CUDA variant needs the NVIDIA container toolkit on the host; torch and faiss-gpu bring their CUDA libraries
# as wheels, so the base image stays the same slim Python.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- Python dependencies: one virtual environment, rebuilt only when pyproject.toml changes ----
FROM ${PYTHON_IMAGE} AS deps
ARG ACCELERATOR=cpu
ARG TORCH_INDEX_URL=
ARG FAISS_GPU_PACKAGE=faiss-gpu-cu12==1.14.1.post1
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml ./
# The dependency list comes from pyproject.toml alone, so that a source change does not reinstall torch.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
 && if [ -n "$TORCH_INDEX_URL" ]; then pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0; fi \
 && pip install -r requirements.txt \
 && case "$ACCELERATOR" in \
      cpu) ;; \
      cuda) pip uninstall -y faiss-cpu && pip install "$FAISS_GPU_PACKAGE" ;; \
      *) echo "ACCELERATOR must be cpu or cuda, not '$ACCELERATOR'" >&2; exit 1 ;; \
    esac

# ---- The web console, built once; the API serves web/dist ----
FROM ${NODE_IMAGE} AS console
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npm run build

# ---- The project's source on top of the dependencies ----
FROM deps AS source
WORKDIR /app
COPY handlers/ handlers/
COPY index/ index/
COPY kalas/ kalas/
COPY api/ api/
COPY scripts/ scripts/
COPY checkpoints/ checkpoints/
# Run from /app as in the repository (`python -m scripts.…`); TorchServe's workers inherit the path too.
ENV PYTHONPATH=/app
# One unprivileged user for every service: TorchServe writes its key file readable by its owner only (0600), and
# the API and the worker, reading it through a shared volume, must be that owner.
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/kalas kalas

# ---- The two model archives, built from handlers/ + checkpoints/ (backbone weights come from their package) ----
FROM source AS archives
RUN python -m scripts.build_archives --output /app/model_store

# ---- TorchServe: Java 17, the archives, the production configuration ----
FROM source AS torchserve
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
COPY --from=archives /app/model_store/ /app/model_store/
COPY config.production.properties log4j2.xml ./
RUN mkdir -p /var/lib/torchserve/logs /var/lib/torchserve/keys /var/lib/torchserve/tmp \
 && chown -R kalas /var/lib/torchserve
USER kalas
# TorchServe writes key_file.json (its generated inference and management keys) into its working directory:
# keys/ is a volume shared read-only with the API and the worker.
WORKDIR /var/lib/torchserve/keys
# OMP_NUM_THREADS and OMP_WAIT_POLICY: as kalas/stack/torchserve.py starts it (WORKER_ENV: one thread per worker,
# a worker per core in config.production.properties; idle OpenMP threads must not spin on a shared CPU).
ENV LOG_LOCATION=/var/lib/torchserve/logs METRICS_LOCATION=/var/lib/torchserve/logs TEMP=/var/lib/torchserve/tmp \
    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
EXPOSE 8080 8082
CMD ["torchserve", "--start", "--foreground", "--ncs", "--model-store", "/app/model_store", \
     "--ts-config", "/app/config.production.properties", "--log-config", "/app/log4j2.xml"]

# ---- The API and the worker (default target) ----
FROM source AS app
COPY --from=console /src/web/dist/ /app/web/dist/
RUN mkdir -p /var/lib/kalas/indexes /var/lib/kalas/images && chown -R kalas /var/lib/kalas
USER kalas
ENV KALAS_ENVIRONMENT=production KALAS_INDEX_DIR=/var/lib/kalas/indexes KALAS_IMAGE_DIR=/var/lib/kalas/images \
    KALAS_WEB_DIST=/app/web/dist
EXPOSE 8000
CMD ["uvicorn", "--factory", "api.main:create_app", "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers", "--no-server-header"]
