# One slim image for every process; the command chooses which (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OKR_HOST=0.0.0.0
WORKDIR /app
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --no-cache-dir -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY shared shared
COPY services services
RUN pip install --no-cache-dir --no-deps . && useradd --system --uid 10001 okr
USER okr
EXPOSE 8081 9181
CMD ["okr-goals", "serve"]
