# node-gyp build of the native UDP transport (run by build.mjs, from `npm ci`/`npm install`).
# It lives here, not at the package root, so npm never runs node-gyp on its own (a root binding.gyp
# makes npm run `node-gyp rebuild` as the install script, and fail the install without a compiler).
{
  "targets": [
    {
      "target_name": "fedns_udp",
      "sources": ["fedns_udp.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wformat=2", "-fno-strict-aliasing"],
      "conditions": [
        ["asan == 1", {
          "cflags": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined", "-O1", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ],
  "variables": { "asan%": 0 }
}
