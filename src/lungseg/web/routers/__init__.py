"""One router per area: pages (home, health), auth (register, login, logout), account, analyses (upload,
history, result, downloads), admin, api (JSON under /api/v1)."""
