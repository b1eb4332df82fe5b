# moscow-time: serve and cgi.fcgi, static and stripped, in an image of ~110 KB.
#   docker build -t moscow-time .            docker run -p 8080:8080 moscow-time
#   podman build -t moscow-time .            docker run -e MODE=once moscow-time
# No HEALTHCHECK: probes belong to the orchestrator (GET /api/time).
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      make gcc libc6-dev musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile *.c *.h ./
COPY templates/embed.c templates/index.html templates/
# static musl, stripped; stack protector and read-only relocations
RUN make CC=musl-gcc \
      CFLAGS="-std=c99 -pedantic -Wall -Wextra -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fstack-protector-strong" \
      LDFLAGS="-static -s -Wl,-z,relro,-z,now,-z,noexecstack" serve cgi.fcgi \
 && mkdir -p root/etc && mv serve cgi.fcgi root/ && ln -s cgi.fcgi root/cgi \
 && printf 'moscow-time:x:65532:65532::/:/serve\n' > root/etc/passwd \
 && printf 'moscow-time:x:65532:\n' > root/etc/group

FROM scratch
# one layer: serve, cgi.fcgi and /etc/passwd and group. cgi.fcgi started
# outside a FastCGI server is the plain CGI: /cgi is a link to it, so one
# binary serves both modes (docker run IMAGE -F runs /cgi.fcgi).
COPY --from=build /src/root/ /
USER 65532:65532
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/serve"]
