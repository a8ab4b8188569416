namespace AutoBuilder.Runner.Processes;

/// <summary>Finds a program the way a shell does: the first folder of PATH that holds it.</summary>
public static class Executables
{
    /// <summary>The program's full path, or null; <paramref name="path"/> defaults to this process's PATH.</summary>
    public static string? Find(string name, string? path = null) =>
        (path ?? Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, name))
            .FirstOrDefault(File.Exists);
}
