// Signs JWTs with jose (an independent JOSE implementation) for jwt_test.cc's cross
// check: RS256, ES256, EdDSA and its RFC 9864 name Ed25519.
//   node jwt_jose_tokens.mjs OUT_FILE NOW_UNIX_SECONDS
// Writes {"jwks": {"keys": [...]}, "tokens": [{"alg": ..., "kid": ..., "token": ...}]}.
import { writeFileSync } from "node:fs";

// tests/npm/node_modules is not on this file's resolution path; import by path.
const jose = await import(new URL("../npm/node_modules/jose/dist/webapi/index.js", import.meta.url));

const [outFile, nowArg] = process.argv.slice(2);
const now = Number(nowArg);
const keys = [];
const tokens = [];
for (const alg of ["RS256", "ES256", "EdDSA", "Ed25519"]) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const kid = `jose-${alg}`;
  keys.push({ ...(await jose.exportJWK(publicKey)), kid, alg, use: "sig" });
  const token = await new jose.SignJWT({ baton_roles: ["operator"], baton_namespaces: ["team-a"] })
    .setProtectedHeader({ alg, kid, typ: "JWT" })
    .setSubject(`subject-${alg}`)
    .setIssuer("https://issuer.example")
    .setAudience(["other", "baton"])
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 600)
    .sign(privateKey);
  tokens.push({ alg, kid, token });
}
writeFileSync(outFile, JSON.stringify({ jwks: { keys }, tokens }));
