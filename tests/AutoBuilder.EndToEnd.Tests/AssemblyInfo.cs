// Each test class starts real servers and real builds; two at a time fit a 2-core machine.
[assembly: CollectionBehavior(MaxParallelThreads = 2)]
