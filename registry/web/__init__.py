"""The web pages' plumbing shared by every package's console pages: templates (Jinja2, ja/en),
cookie sessions for console users, CSRF, security headers, server-side SVG charts, and the
console's own pages (sign-in, home, history). Each package serves its own pages with it."""
