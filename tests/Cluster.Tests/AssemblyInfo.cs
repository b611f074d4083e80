// One cluster at a time: each test runs several silos, an API host, Redis and PostgreSQL on this machine's cores,
// and failure detection and the times the tests report mean something only when the cores are not shared with
// another cluster.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
