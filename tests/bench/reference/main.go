// The Go program moscow-time replaces, written again from the seed
// report's description for the benchmark: MODE=once prints the time in
// Moscow as JSON and exits; otherwise net/http serves the page at / and
// the JSON at /api/time on :8080 (LISTEN=127.0.0.1:PORT moves it, for the
// benchmark's loopback-only runs). Built as the report built it: static,
// CGO off, netgo, -trimpath, -ldflags "-s -w".
package main

import (
	"encoding/json"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"os"
	"time"
)

type moscowTime struct {
	MoscowTime string `json:"moscow_time"`
	Timestamp  int64  `json:"timestamp"`
}

var moscow = time.FixedZone("MSK", 3*3600)

func now() moscowTime {
	t := time.Now().In(moscow)
	return moscowTime{t.Format("2006-01-02 15:04:05") + " MSK", t.Unix()}
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Moscow time</title>
<style>
body{margin:0;min-height:100vh;display:grid;place-items:center;font-family:system-ui,sans-serif;
background:linear-gradient(135deg,#667eea,#764ba2);color:#fff}
main{text-align:center;padding:2rem 3rem;border-radius:1.5rem;background:rgba(255,255,255,.15)}
#clock{font-size:5rem;font-weight:700}
</style>
</head>
<body>
<main>
<h1>Current time in Moscow</h1>
<p id="clock">{{.Time}}</p>
<p>{{.Date}}</p>
<p>MSK, UTC+3</p>
<p><a href="/api/time">JSON API</a></p>
</main>
<script>
setInterval(function () {
  fetch("/api/time").then(function (r) { return r.json(); }).then(function (j) {
    document.getElementById("clock").textContent = j.moscow_time.slice(11, 19);
  });
}, 1000);
</script>
</body>
</html>
`))

func main() {
	if os.Getenv("MODE") == "once" {
		out, _ := json.MarshalIndent(now(), "", "  ")
		fmt.Println(string(out))
		return
	}
	http.HandleFunc("/api/time", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(now())
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		t := time.Now().In(moscow)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page.Execute(w, map[string]string{"Time": t.Format("15:04:05"),
			"Date": t.Format("Monday, 2 January 2006")})
	})
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = ":8080"
	}
	log.Fatal(http.ListenAndServe(addr, nil))
}
