// A loader worker that never says anything (and never exits): the main thread must stop waiting.
setInterval(() => {}, 1000);
