import { defineConfig } from "vitest/config";

// The build lands in the Python package (shop/static), which the shop serves at / and the wheel carries.
export default defineConfig({
  build: {
    outDir: "../shop/static",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
