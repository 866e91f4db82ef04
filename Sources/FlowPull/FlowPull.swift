// The Tailscale API client (issue 7).
