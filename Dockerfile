# shipsafe, and nothing else, in an image:
#   docker build -t shipsafe .
#   docker run --rm -v "$PWD:/work" -v shipsafe-state:/home/shipsafe/.local/state \
#       shipsafe deploy plan.yaml
# The default store is the user's ($XDG_STATE_HOME/shipsafe): keep it in a volume (above),
# or use a team store (--state dynamodb://TABLE); a --rm container's home is thrown away.
# Includes the AWS extra (boto3) for the AWS routers, metrics, snapshots and stores.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shipsafe ./shipsafe
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[aws]'

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels 'shipsafe[aws]' \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 shipsafe
USER shipsafe
RUN mkdir -p -m 0700 /home/shipsafe/.local/state/shipsafe
WORKDIR /work
ENTRYPOINT ["shipsafe"]
CMD ["--help"]
