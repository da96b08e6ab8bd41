// Checks one forwarded delivery with the npm `standardwebhooks` package, as an app's Node
// receiver would. Reads {"secret", "raw", "body", "headers"} as JSON on stdin; `raw` passes
// the secret's UTF-8 bytes as the key (a secret without the whsec_ prefix). Prints "ok" and
// exits 0 when verify() accepts it, else prints the error and exits 1.
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { secret, raw, body, headers } = JSON.parse(input);
  try {
    const hook = raw
      ? new Webhook(new TextEncoder().encode(secret), { format: "raw" })
      : new Webhook(secret);
    hook.verify(body, headers);
    console.log("ok");
  } catch (error) {
    console.log(`${error.name}: ${error.message}`);
    process.exit(1);
  }
});
