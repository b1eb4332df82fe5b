# moscow-time: serve and cgi, static and stripped, in an image of ~80 KB.
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
 && mkdir bin && mv serve cgi.fcgi bin/ && ln -s cgi.fcgi bin/cgi \
 && printf 'moscow-time:x:65532:65532::/:/serve\n' > passwd \
 && printf 'moscow-time:x:65532:\n' > group

FROM scratch
COPY --from=build /src/passwd /src/group /etc/
# cgi.fcgi started outside a FastCGI server is the plain CGI: /cgi is a
# link to it, so one binary serves both modes (./serve -F /cgi.fcgi)
COPY --from=build /src/bin/ /
USER 65532:65532
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/serve"]
