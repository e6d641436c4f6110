# NeuroLink UI as a container: `docker build -t neurolink-ui .` then
# `docker run -e REPLICATE_API_TOKEN=r8_... -p 7860:7860 neurolink-ui`. Also a valid Docker Space.
FROM python:3.11-slim

# Spaces run containers as uid 1000; a home of its own keeps caches and temp files writable.
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR $HOME/app

# Dependencies first, in their own layer: code changes do not reinstall them. constraints.txt pins
# every transitive version too (scripts/lock.sh), so a build next month installs the same set.
COPY --chown=user requirements.txt constraints.txt .
RUN pip install --no-cache-dir --user -r requirements.txt -c constraints.txt

COPY --chown=user . .

# Listen on every interface inside the container; Spaces and `docker run -p` expect port 7860.
ENV GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_TEMP_DIR=$HOME/tmp/gradio
RUN mkdir -p "$GRADIO_TEMP_DIR"
EXPOSE 7860

# No curl in the slim image: Python's urllib checks that the page answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"]

CMD ["python", "app.py"]
