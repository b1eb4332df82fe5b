#!/bin/sh
# moscow-time under tcpserver (Debian's ucspi-tcp): one serve -i per
# connection on 127.0.0.1:8080, at most 64 at once (more wait in the
# backlog). -H and -R skip the DNS and ident lookups; serve takes the
# peer from TCPREMOTEIP and TCPREMOTEPORT.
#   sh deploy/inetd/tcpserver.sh        (stop: kill its PID)
exec tcpserver -c 64 -H -R -l 0 127.0.0.1 8080 /usr/local/bin/serve -i
