namespace AutoBuilder.Server.Hosting;

/// <summary>How builds are sandboxed (Sandbox:Mode).</summary>
public enum SandboxMode
{
    /// <summary>bubblewrap when it is on PATH and works; otherwise unsandboxed, with one warning at start-up.</summary>
    Auto,
    /// <summary>bubblewrap or nothing: start-up fails when it is missing or does not work.</summary>
    Required,
    /// <summary>Builds run unsandboxed (still in their own process group, with a clean environment).</summary>
    Off,
}
