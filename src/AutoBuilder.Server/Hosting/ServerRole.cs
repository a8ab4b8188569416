namespace AutoBuilder.Server.Hosting;

/// <summary>Which halves of AutoBuilder a process runs.</summary>
public enum ServerRole
{
    All,
    Api,
    Dispatcher,
}
