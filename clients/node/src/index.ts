// Baton's Node.js client:
//
//   import { Baton } from 'baton-client';
//   const baton = new Baton('127.0.0.1:7233');
//   const run = await baton.run({ model: 'claude-sonnet-4-5', allowedTools: ['sum'] }, 'What is 17 + 25?');
//   console.log(run.state, run.output);
//   baton.close();
export * from './client';
export * from './errors';
export * from './retry';
