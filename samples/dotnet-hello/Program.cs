using Humanizer;

Console.WriteLine($"Hello from dotnet-hello: {"AutoBuilderSample".Humanize()}, built {3.ToWords()} ways.");
