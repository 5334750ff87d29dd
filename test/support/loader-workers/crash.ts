// A loader worker that dies at once (store/worker-loader.ts failure handling).
throw new Error("this loader worker crashes on start");
