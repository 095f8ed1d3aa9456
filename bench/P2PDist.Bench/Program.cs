using P2PDist.Bench;

// dotnet run -c Release --project bench/P2PDist.Bench -- bootstrap [files] [chunksPerFile]
return args.FirstOrDefault() switch
{
    "bootstrap" => BootstrapBenchmark.Run(args.Skip(1).ToArray()),
    "bootstrap-measure" => BootstrapBenchmark.MeasureOnly(args.Skip(1).ToArray()),
    "digest" => DigestBenchmark.Run(),
    "codec" => CodecBenchmark.Run(),
    "scheduler" => SchedulerBenchmark.Run(args.Skip(1).ToArray()),
    "swarm-sim" => SwarmSimulation.Run(args.Skip(1).ToArray()),
    "peer-protocol" => PeerProtocolBenchmark.Run(),
    "tls-cost" when !OperatingSystem.IsWindows() => TlsCostBenchmark.Run(),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: P2PDist.Bench bootstrap [files=100000] [chunksPerFile=10] | digest | codec | scheduler [peers=10000] | swarm-sim [peers=10000] [chunks=100000] | peer-protocol | tls-cost");
    return 2;
}
