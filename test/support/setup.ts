import fc from 'fast-check';

// Property tests draw the same cases on every run, so a failure reproduces and CI cannot flicker.
fc.configureGlobal({ seed: 0x5eed });
