# The production image: one image, several processes (web, workers, beat, MQTT listener).
FROM python:3.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN useradd --create-home --uid 10001 qenergyz

COPY pyproject.toml README.md ./
COPY qenergyz ./qenergyz
COPY apps ./apps
RUN pip install .

COPY . .
# Static files and the compiled Arabic catalogue are built into the image; the key is a
# build-time throwaway (the real SECRET_KEY comes from the environment at run time).
RUN SECRET_KEY=build-only DEBUG=0 python manage.py collectstatic --noinput --verbosity 0 \
 && SECRET_KEY=build-only DEBUG=0 python manage.py compiletranslations

USER qenergyz
EXPOSE 8000
CMD ["daphne", "--bind", "0.0.0.0", "--port", "8000", "--proxy-headers", "qenergyz.asgi:application"]
