// The login page: the server keeps the target path in `next`; a fragment (#L120) never
// reaches the server, so it is added here, and the browser comes back to that very line.

const next = document.getElementById('next');
if (next && location.hash && !next.value.includes('#')) next.value += location.hash;
