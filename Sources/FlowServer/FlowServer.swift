// The `tailflow serve` server (issue 6).
