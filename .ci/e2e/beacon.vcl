# The page cache in front of the example in beacon mode, for .ci/e2e/e2e-beacon.js: pages are cached
# (as the app's `Cache-Control: public, max-age=60` says) and reach the app without cookies; the
# beacon, the JSON API, the chart and /metrics pass through uncached, cookies and all.
# .ci/e2e.sh writes the app's port in place of BACKEND_PORT.
vcl 4.1;

backend app {
    .host = "127.0.0.1";
    .port = "BACKEND_PORT";
}

sub vcl_recv {
    if (req.url ~ "^/(_vc/|api/|metrics|chart\.svg)") {
        return (pass);
    }
    unset req.http.Cookie;
}

sub vcl_backend_response {
    if (bereq.url !~ "^/(_vc/|api/|metrics|chart\.svg)") {
        unset beresp.http.Set-Cookie;
    }
}
