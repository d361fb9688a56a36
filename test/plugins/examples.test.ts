// The example plugins of examples/ carry their own tests; they run with the suite.
import '../../examples/filename-policy/filename-policy.test.ts';
